"""Initial-state strategies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.core import initial_states


def test_zeros_and_constant():
  c = initial_states.initial_carry("zeros", [], 3, num_layers=2, hidden_size=4)
  assert len(c) == 2 and all(float(jnp.abs(a).max()) == 0 for pair in c for a in pair)
  c = initial_states.initial_carry("constant", [], 3, num_layers=1, hidden_size=4, value=0.3)
  np.testing.assert_allclose(c[0][0], 0.3)
  np.testing.assert_allclose(c[0][1], 0.3)


def test_learned_state_broadcasts_and_receives_gradients():
  sp = initial_states.init_state_params("learned", 2, 4, value=0.1)
  assert initial_states.init_state_params("noisy", 2, 4) == []
  c = initial_states.initial_carry("learned", sp, 5)
  assert c[1][0].shape == (5, 4)
  np.testing.assert_allclose(c[1][0], 0.1)

  def loss(sp):
    carry = initial_states.initial_carry("learned", sp, 5)
    return sum(jnp.sum(h ** 2) + jnp.sum(jnp.sin(c)) for h, c in carry)

  g = jax.grad(loss)(sp)
  np.testing.assert_allclose(g[0]["h0"], 5 * 2 * 0.1, rtol=1e-6)  # d/dh0 sum_b h0^2
  np.testing.assert_allclose(g[0]["c0"], 5 * np.cos(0.1), rtol=1e-6)


def test_noise_is_per_key_training_only_and_has_the_stated_std():
  kw = dict(num_layers=2, hidden_size=64, training=True, noise_std=0.2)
  a = initial_states.initial_carry("noisy", [], 500, key=jax.random.key(1), **kw)
  b = initial_states.initial_carry("noisy", [], 500, key=jax.random.key(1), **kw)
  c = initial_states.initial_carry("noisy", [], 500, key=jax.random.key(2), **kw)
  np.testing.assert_array_equal(a[0][0], b[0][0])
  # Other keys give independent draws: 32,000 pairs, so |correlation| < 0.03 is 5 sd.
  assert abs(np.corrcoef(np.ravel(a[0][0]), np.ravel(c[0][0]))[0, 1]) < 0.03
  assert abs(np.corrcoef(np.ravel(a[0][0]), np.ravel(a[1][0]))[0, 1]) < 0.03
  assert not np.allclose(a[0][0], a[1][0]) and not np.allclose(a[0][0], a[0][1])
  # 32,000 draws: the std estimate is within about 1% of 0.2.
  assert abs(float(a[0][0].std()) - 0.2) < 0.006 and abs(float(a[0][0].mean())) < 0.006
  ev = initial_states.initial_carry("noisy", [], 500, key=jax.random.key(1), num_layers=2,
                            hidden_size=64, training=False, noise_std=0.2)
  np.testing.assert_array_equal(ev[0][0], 0.0)


def test_learned_noisy_is_noise_around_the_learned_state():
  sp = initial_states.init_state_params("learned_noisy", 1, 64, value=1.0)
  tr = initial_states.initial_carry("learned_noisy", sp, 400, key=jax.random.key(0), training=True,
                            noise_std=0.1)
  assert abs(float(tr[0][1].mean()) - 1.0) < 0.005 and abs(float(tr[0][1].std()) - 0.1) < 0.004
  ev = initial_states.initial_carry("learned_noisy", sp, 400, training=False, noise_std=0.1)
  np.testing.assert_array_equal(ev[0][1], 1.0)


def test_carried_and_errors():
  carry = [(jnp.ones((2, 3)), jnp.zeros((2, 3)))]
  assert initial_states.initial_carry("carried", [], 2, carry=carry)[0][0] is carry[0][0]
  with pytest.raises(ConfigError, match="needs the carry"):
    initial_states.initial_carry("carried", [], 2)
  with pytest.raises(ConfigError, match="unknown initial-state strategy 'learnt'; valid choices"):
    initial_states.initial_carry("learnt", [], 2, num_layers=1, hidden_size=2)
  with pytest.raises(ConfigError, match="needs a noise key"):
    initial_states.initial_carry("noisy", [], 2, num_layers=1, hidden_size=2, training=True,
                         noise_std=0.1)
