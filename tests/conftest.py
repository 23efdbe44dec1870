"""Shared test settings: float32 everywhere, a fixed test key."""

import jax
import pytest


@pytest.fixture
def key():
  return jax.random.key(0)
