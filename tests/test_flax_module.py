"""The Flax linen module over the same core."""

import jax
import jax.numpy as jnp
import flax
import numpy as np
import pytest

from lstm_init.core import flax_module, lstm


def test_same_layout_and_outputs_as_the_functional_core():
  model = flax_module.LSTM(hidden_size=6, num_layers=2, preset="flax_linen",
                           init_overrides=(("forget_bias", 1.0),))
  xs = jax.random.normal(jax.random.key(0), (3, 5, 2))
  variables = model.init(jax.random.key(1), xs)
  layers = variables["params"]["layers"]
  assert [l["W_x"].shape for l in layers] == [(2, 24), (6, 24)]
  np.testing.assert_array_equal(layers[0]["b"][6:12], 1.0)
  ys, carry = model.apply(variables, xs)
  ref, ref_carry = lstm.apply(layers, xs)
  np.testing.assert_array_equal(ys, ref)
  for (h, c), (rh, rc) in zip(carry, ref_carry):
    np.testing.assert_array_equal(h, rh)
    np.testing.assert_array_equal(c, rc)


def test_dropout_needs_rng_only_in_training():
  model = flax_module.LSTM(hidden_size=4, num_layers=2, dropout=0.5)
  xs = jnp.ones((8, 4, 3))
  variables = model.init(jax.random.key(0), xs)
  det = model.apply(variables, xs)[0]
  tr1 = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(1)})[0]
  tr2 = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(2)})[0]
  assert not np.allclose(tr1, tr2) and not np.allclose(det, tr1)
  # Deterministic application needs no rng and repeats exactly ...
  np.testing.assert_array_equal(det, model.apply(variables, xs)[0])
  np.testing.assert_array_equal(det, lstm.apply(variables["params"]["layers"], xs)[0])
  # ... training with dropout does need one, and the same key repeats the same mask.
  with pytest.raises(flax.errors.InvalidRngError):
    model.apply(variables, xs, deterministic=False)
  np.testing.assert_array_equal(
      tr1, model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(1)})[0])
