"""Key derivation: per-seed independence, fixed streams, refused generators."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.core import keys


def _data(k):
  return np.asarray(jax.random.key_data(k))


def test_seed_key_does_not_depend_on_how_many_seeds_run():
  root = keys.root_key(3)
  few = keys.run_keys(root, jnp.arange(3))
  many = keys.run_keys(root, jnp.arange(1000))
  for name in keys.STREAMS:
    np.testing.assert_array_equal(_data(few[name]), _data(many[name][:3]))
  alone = keys.run_keys(root, jnp.array([2]))
  np.testing.assert_array_equal(_data(alone["init"])[0], _data(many["init"])[2])
  # streams of one seed differ from each other, and seeds differ from each other
  assert len({tuple(_data(few[n])[0]) for n in keys.STREAMS}) == len(keys.STREAMS)
  assert len({tuple(r) for r in _data(many["data"])}) == 1000


def test_fixed_streams_are_shared_across_seeds():
  root = keys.root_key(0)
  k = keys.run_keys(root, jnp.arange(4), fixed=("data",))
  assert (_data(k["data"]) == _data(k["data"])[0]).all()
  assert len({tuple(r) for r in _data(k["init"])}) == 4
  free = keys.run_keys(root, jnp.arange(4))
  np.testing.assert_array_equal(_data(k["data"])[0], _data(free["data"])[0])  # seed 0's stream


def test_unknown_stream_is_refused():
  with pytest.raises(ConfigError, match="unknown stream 'dta'; valid choices: data, dropout"):
    keys.parse_streams("init,dta")


def test_rbg_generators_are_refused():
  code = ("import jax; jax.config.update('jax_default_prng_impl', 'rbg')\n"
          "from lstm_init import keys\n"
          "try:\n  keys.root_key(0)\nexcept Exception as e:\n  print(type(e).__name__, e)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
  assert out.stdout.startswith("ConfigError PRNG implementation 'rbg' breaks vmap"), out.stderr


def test_core_imports_do_not_load_the_sweep_stack():
  import subprocess
  import sys
  code = ("import sys, lstm_init.core.stats, lstm_init.core.lstm\n"
          "heavy = [m for m in sys.modules if m.startswith(('lstm_init.engine.sweep', 'lstm_init.training.tasks',"
          " 'lstm_init.training.supervised', 'lstm_init.engine.loop', 'lstm_init.training.tasks', 'matplotlib'))]\n"
          "print(heavy)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-1000:]
