"""The A2C loss and GAE against rlax, by hand, and against the classic mistakes."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from lstm_init.training import rl

T, B, A = 7, 5, 3
GAMMA, LAM = 0.97, 0.9


def _rollout(seed=0):
  k = jax.random.split(jax.random.key(seed), 6)
  return {"rewards": jax.random.normal(k[0], (T, B)),
          "values": jax.random.normal(k[1], (T, B)),
          "dones": jax.random.bernoulli(k[2], 0.25, (T, B)),
          "bootstrap": jax.random.normal(k[3], (B,)),
          "logits": jax.random.normal(k[4], (T, B, A)),
          "actions": jax.random.randint(k[5], (T, B), 0, A)}


def _rlax_gae(rewards, values, dones, bootstrap):
  discounts = GAMMA * (1.0 - dones.astype(jnp.float32))
  with_bootstrap = jnp.concatenate([values, bootstrap[None]], 0)
  per_env = jax.vmap(lambda r, d, v: rlax.truncated_generalized_advantage_estimation(
      r, d, LAM, v), in_axes=1, out_axes=1)
  return per_env(rewards, discounts, with_bootstrap)


def test_gae_matches_rlax_with_gradients():
  r = _rollout()
  ours, returns = rl.gae(r["rewards"], r["values"], r["dones"], r["bootstrap"], GAMMA, LAM)
  ref = _rlax_gae(r["rewards"], r["values"], r["dones"], r["bootstrap"])
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  np.testing.assert_allclose(returns, ref + r["values"], atol=1e-5)
  # Gradients with respect to rewards, values and the bootstrap value.
  w = jax.random.normal(jax.random.key(9), (T, B))
  f_ours = lambda rw, v, b: jnp.sum(w * rl.gae(rw, v, r["dones"], b, GAMMA, LAM)[0])
  f_ref = lambda rw, v, b: jnp.sum(w * _rlax_gae(rw, v, r["dones"], b))
  g_ours = jax.grad(f_ours, argnums=(0, 1, 2))(r["rewards"], r["values"], r["bootstrap"])
  g_ref = jax.grad(f_ref, argnums=(0, 1, 2))(r["rewards"], r["values"], r["bootstrap"])
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a2c_loss_matches_rlax_with_gradients():
  r = _rollout(1)
  adv, ret = rl.gae(r["rewards"], r["values"], r["dones"], r["bootstrap"], GAMMA, LAM)
  vc, ec = 0.5, 0.01

  def ours(logits, values):
    return rl.a2c_loss(logits, values, r["actions"], adv, ret, value_coef=vc,
                       entropy_coef=ec)[0]

  def ref(logits, values):
    flat = lambda x: x.reshape((T * B,) + x.shape[2:])
    w = jnp.ones(T * B)
    pg = rlax.policy_gradient_loss(flat(logits), flat(r["actions"]), flat(adv), w)
    ent = -rlax.entropy_loss(flat(logits), w)  # rlax's entropy loss is minus the entropy
    value = 0.5 * jnp.mean((jax.lax.stop_gradient(ret) - values) ** 2)
    return pg + vc * value - ec * ent

  np.testing.assert_allclose(ours(r["logits"], r["values"]), ref(r["logits"], r["values"]),
                             rtol=1e-5, atol=1e-6)
  g_ours = jax.grad(ours, argnums=(0, 1))(r["logits"], r["values"])
  g_ref = jax.grad(ref, argnums=(0, 1))(r["logits"], r["values"])
  for a, b in zip(g_ours, g_ref):
    np.testing.assert_allclose(a, b, atol=1e-6)
  _, m = rl.a2c_loss(r["logits"], r["values"], r["actions"], adv, ret, value_coef=vc,
                     entropy_coef=ec)
  np.testing.assert_allclose(m["loss"], m["policy_loss"] + vc * m["value_loss"]
                             - ec * m["entropy"], rtol=1e-6)


def test_a_two_step_example_by_hand():
  # One environment, two steps; the episode ends after step 0, so step 0
  # does not see step 1's value, and step 1 bootstraps from V = 2.
  rewards = jnp.array([[1.0], [0.5]])
  values = jnp.array([[0.2], [0.4]])
  dones = jnp.array([[True], [False]])
  adv, ret = rl.gae(rewards, values, dones, jnp.array([2.0]), 0.9, 0.8)
  d1 = 0.5 + 0.9 * 2.0 - 0.4          # 1.9
  d0 = 1.0 + 0.0 - 0.2                # 0.8 (no bootstrap across the episode end)
  np.testing.assert_allclose(adv[:, 0], [d0, d1], rtol=1e-6)  # A_0 = d0: the end cuts A_1 off
  np.testing.assert_allclose(ret[:, 0], [d0 + 0.2, d1 + 0.4], rtol=1e-6)
  # The loss, with uniform logits over 2 actions: log pi = log 1/2, entropy log 2.
  logits = jnp.zeros((2, 1, 2))
  loss, m = rl.a2c_loss(logits, values, jnp.array([[0], [1]]), adv, ret, value_coef=0.5,
                        entropy_coef=0.1)
  policy = -math.log(0.5) * (d0 + d1) / 2
  value = 0.5 * ((d0) ** 2 + (d1) ** 2) / 2
  np.testing.assert_allclose(m["policy_loss"], policy, rtol=1e-6)
  np.testing.assert_allclose(m["value_loss"], value, rtol=1e-6)
  np.testing.assert_allclose(m["entropy"], math.log(2), rtol=1e-6)
  np.testing.assert_allclose(loss, policy + 0.5 * value - 0.1 * math.log(2), rtol=1e-6)


def test_gaussian_log_density_and_entropy_are_exact():
  k = jax.random.split(jax.random.key(3), 3)
  mean = jax.random.normal(k[0], (T, B, 2))
  log_std = jnp.array([-0.5, 0.3])  # state-independent
  actions = mean + jnp.exp(log_std) * jax.random.normal(k[1], (T, B, 2))
  log_prob, entropy = rl.gaussian_log_prob_entropy(mean, log_std, actions)
  from scipy import stats
  ref = stats.norm.logpdf(np.asarray(actions), np.asarray(mean),
                          np.exp(np.asarray(log_std))).sum(-1)
  np.testing.assert_allclose(log_prob, ref, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(entropy, stats.norm.entropy(0, np.exp(np.asarray(log_std))).sum(),
                             rtol=1e-6)
  # log(prob + 1e-5) is not log prob: its gradient is log prob's scaled by
  # prob / (prob + 1e-5), which vanishes for unlikely actions (the tails, where
  # the policy most needs the signal), and the 1e-5 means nothing on a density.
  m0, ls = jnp.zeros((1,)), jnp.zeros((1,))
  a = jnp.array([5.0])  # 5 standard deviations out: density 1.5e-6
  logp = lambda m: rl.gaussian_log_prob_entropy(m, ls, a)[0]
  p = float(jnp.exp(logp(m0)))
  g = jax.grad(logp)(m0)
  g_eps = jax.grad(lambda m: jnp.log(jnp.exp(logp(m)) + 1e-5))(m0)
  np.testing.assert_allclose(g, [5.0], rtol=1e-6)  # d/dmu log N(a; mu, 1) = a - mu
  np.testing.assert_allclose(g_eps, g * p / (p + 1e-5), rtol=1e-4)
  assert float(g_eps[0]) < 0.15 * float(g[0])


def _mistakes(logits, values, actions, adv_from_values, returns):
  """The classic mistakes as a Keras or PyTorch user writes them."""
  logp, _ = rl.categorical_log_prob_entropy(logits, actions)
  adv = adv_from_values(values)
  return {
      "gradient through the advantage": -jnp.mean(logp * adv),
      "[B] by [B, 1] broadcast": -jnp.mean(logp[0] * jax.lax.stop_gradient(adv)[0][:, None]),
      "wrong sign": jnp.mean(logp * jax.lax.stop_gradient(adv)),
  }


def test_each_classic_mistake_changes_the_gradient():
  r = _rollout(2)
  ret = jax.random.normal(jax.random.key(5), (T, B))
  adv_from_values = lambda v: ret - v  # a one-step advantage from the critic

  def right(logits, values):
    return rl.a2c_loss(logits, values, r["actions"], adv_from_values(values), ret,
                       value_coef=0.0, entropy_coef=0.0)[0]

  g_right = jax.grad(right, argnums=(0, 1))(r["logits"], r["values"])
  assert float(jnp.abs(g_right[1]).max()) == 0.0  # the policy term never moves the critic
  for name in ("gradient through the advantage", "[B] by [B, 1] broadcast", "wrong sign"):
    wrong = lambda lg, v, name=name: _mistakes(lg, v, r["actions"], adv_from_values, ret)[name]
    g_wrong = jax.grad(wrong, argnums=(0, 1))(r["logits"], r["values"])
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(g_wrong, g_right))
    assert diff > 1e-3, name
  # The broadcast makes a [B, B] matrix; a2c_terms refuses mismatched shapes.
  with pytest.raises(ValueError, match="must have one shape"):
    rl.a2c_terms(jnp.zeros((B,)), jnp.zeros((B,)), jnp.zeros((B,)), jnp.zeros((B, 1)),
                 jnp.zeros((B,)), value_coef=0.5, entropy_coef=0.0)
