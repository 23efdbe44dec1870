"""Shared test settings: a fixed test key, and one compilation cache for the run.

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
