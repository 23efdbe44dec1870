"""Shared test settings: a fixed test key, one compilation cache for the run, the
number of workers `-n auto` starts, and the order tests are handed to them.

Many tests train the same tiny programs, in this process and in the CLI
subprocesses they start; JAX's persistent compilation cache (a folder under
.pytest_cache, new in a fresh clone) compiles each of them once.
"""

import os

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      ".pytest_cache", "jax_compilation")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
  return jax.random.key(0)


def pytest_xdist_auto_num_workers(config):
  """`-n auto`: two workers per core, at most 8 more than cores
  (PYTEST_XDIST_AUTO_NUM_WORKERS overrides).

  Many tests wait without computing: on processes they start (each compiles on one
  core), on a killed partner's timeout, on file writes. A second worker per core
  keeps the cores busy meanwhile (2 cores, a fresh clone, measured within an hour:
  764 s with 2 workers, 690 s with 3, 642 s with 4, 697 s with 6).
  """
  env = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
  if env:
    return int(env)
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return min(2 * (cores or 1), (cores or 1) + 8)  # (each worker holds a JAX process)


# Modules whose tests train sweeps, start processes or build the site (seconds to a
# minute each). They are handed out first, so that the short tests, not a long
# one, are what the workers finish on.
LONG_FIRST = ("test_scaling", "test_accelerator_check", "test_docs", "test_cli", "test_papers",
              "test_reproduce", "test_rl", "test_api", "test_coord_check", "test_width",
              "test_studies", "test_diagnostics", "test_memory", "test_sweep", "test_train",
              "test_initializers", "test_examples", "test_processes")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONG_FIRST)}
  items.sort(key=lambda item: rank.get(item.module.__name__.rpartition(".")[2], len(rank)))
