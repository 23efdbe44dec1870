"""Shared test settings: a fixed test key, one compilation cache for the run, one
CPU device for the processes tests start, and the number of workers `-n auto`
starts.

Many tests train the same tiny programs, in this process and in the CLI
subprocesses they start; JAX's persistent compilation cache (a folder under
.pytest_cache, new in a fresh clone) compiles each of them once. An entry point
on N host devices compiles each program once per device (a program is compiled
for the device it runs on, and its cache key holds the device assignment; measured:
a two-device process shared no entry with the one-device test processes), so the
processes tests start use one device, as the test processes do, and share their
programs. Tests of several devices or of the default device count set
their own (`--cpu_devices`, `LSTM_INIT_CPU_DEVICES`, `XLA_FLAGS`).
"""

import os

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      ".pytest_cache", "jax_compilation")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("LSTM_INIT_CPU_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
  return jax.random.key(0)


def pytest_xdist_auto_num_workers(config):
  """`-n auto`: one worker per core (PYTEST_XDIST_AUTO_NUM_WORKERS overrides).

  The suite is compilation-bound, and the processes tests start compile on one
  device each, so the cores are busy with one worker each; a second worker per
  core adds contention, not throughput (2 cores, fresh clones of the same tests:
  2 workers 598 s, 3 workers 611 s, 4 workers 644 s, 6 workers 722 s).
  """
  env = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
  if env:
    return int(env)
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return cores or 1  # (each worker holds a JAX process)

