"""The LSTM core against an independent NumPy implementation and its contracts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import init_params
from lstm_init.core import lstm


def numpy_lstm(params, xs, carry=None):
  """An independent reference: explicit loops, float64, gates i, f, g, o."""
  sig = lambda z: 1.0 / (1.0 + np.exp(-z))
  xs = np.asarray(xs, np.float64)
  batch, time, _ = xs.shape
  finals, inp = [], xs
  for l, p in enumerate(params):
    wx, wh, b = (np.asarray(p[k], np.float64) for k in ("W_x", "W_h", "b"))
    hidden = wh.shape[0]
    h = np.zeros((batch, hidden)) if carry is None else np.asarray(carry[l][0], np.float64)
    c = np.zeros((batch, hidden)) if carry is None else np.asarray(carry[l][1], np.float64)
    out = np.zeros((batch, time, hidden))
    for t in range(time):
      z = inp[:, t] @ wx + h @ wh + b
      i, f, g, o = (z[:, k * hidden:(k + 1) * hidden] for k in range(4))
      c = sig(f) * c + sig(i) * np.tanh(g)
      h = sig(o) * np.tanh(c)
      out[:, t] = h
    finals.append((h, c))
    inp = out
  return inp, finals


def _params(key, i=3, h=5, layers=2, preset="pytorch"):
  return init_params(key, i, h, preset=preset, num_layers=layers)


def test_matches_numpy_reference(key):
  params = _params(key)
  xs = jax.random.normal(jax.random.fold_in(key, 1), (4, 9, 3))
  carry = [(jax.random.normal(jax.random.fold_in(key, 2 + l), (4, 5)) * 0.5,
            jax.random.normal(jax.random.fold_in(key, 9 + l), (4, 5)) * 0.5) for l in range(2)]
  ys, final = jax.jit(lstm.apply)(params, xs, carry)
  ref_ys, ref_final = numpy_lstm(params, xs, carry)
  np.testing.assert_allclose(ys, ref_ys, atol=2e-6)
  for (h, c), (rh, rc) in zip(final, ref_final):
    np.testing.assert_allclose(h, rh, atol=2e-6)
    np.testing.assert_allclose(c, rc, atol=2e-6)


def test_lengths_freeze_carry_and_zero_outputs(key):
  params = _params(key)
  xs = jax.random.normal(key, (3, 8, 3))
  lengths = jnp.array([8, 3, 0])
  ys, final = lstm.apply(params, xs, lengths=lengths)
  for b, n in enumerate([8, 3, 0]):
    np.testing.assert_array_equal(ys[b, n:], 0.0)
    if n:
      ref_ys, ref_final = numpy_lstm(params, xs[b:b + 1, :n])
      np.testing.assert_allclose(ys[b, :n], ref_ys[0], atol=2e-6)
      for l in range(2):
        np.testing.assert_allclose(final[l][0][b], ref_final[l][0][0], atol=2e-6)
        np.testing.assert_allclose(final[l][1][b], ref_final[l][1][0], atol=2e-6)
    else:  # no valid step: the initial (zero) carry comes back
      for l in range(2):
        np.testing.assert_array_equal(final[l][0][b], 0.0)


def test_lengths_block_gradient_from_padding(key):
  params = _params(key)
  xs = jax.random.normal(key, (2, 6, 3))
  lengths = jnp.array([6, 2])
  g = jax.grad(lambda x: lstm.apply(params, x, lengths=lengths)[0].sum())(xs)
  np.testing.assert_array_equal(g[1, 2:], 0.0)
  assert np.all(np.abs(g[1, :2]) > 0)


def test_carry_at_returns_intermediate_carry_without_masking(key):
  params = _params(key)
  xs = jax.random.normal(key, (2, 6, 3))
  ys, final = lstm.apply(params, xs, carry_at=jnp.array([4, 4]))
  full, _ = lstm.apply(params, xs)
  np.testing.assert_array_equal(ys, full)
  _, ref = lstm.apply(params, xs[:, :4])
  np.testing.assert_allclose(final[1][1], ref[1][1], atol=1e-6)


def test_gradients_finite_and_equal_under_jit(key):
  params = _params(key)
  xs = jax.random.normal(key, (4, 7, 3))
  loss = lambda p: jnp.mean(lstm.apply(p, xs)[0] ** 2)
  g_eager = jax.grad(loss)(params)
  g_jit = jax.jit(jax.grad(loss))(params)
  for a, b in zip(jax.tree.leaves(g_eager), jax.tree.leaves(g_jit)):
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert all(float(jnp.abs(a).max()) > 0 for a in jax.tree.leaves(g_eager))


def test_vmap_over_parameter_sets_equals_separate_applies(key):
  keys = jax.random.split(key, 8)
  stacked = jax.vmap(lambda k: _params(k, preset="keras"))(keys)
  xs = jax.random.normal(key, (4, 7, 3))
  ys, _ = jax.jit(jax.vmap(lambda p: lstm.apply(p, xs)))(stacked)
  for s in range(8):
    one = jax.tree.map(lambda a: a[s], stacked)
    np.testing.assert_allclose(ys[s], lstm.apply(one, xs)[0], atol=1e-6)


def test_residual_merge_and_variance(key):
  params = init_params(key, 4, 4, preset="keras", num_layers=2)
  xs = jax.random.normal(key, (3, 5, 4))
  ys, _, layers = lstm.apply(params, xs, residual=True, return_layers=True)
  plain, _, plain_layers = lstm.apply(params, xs, return_layers=True)
  np.testing.assert_allclose(layers[0], plain_layers[0], atol=1e-7)  # first layer: no merge
  second = lstm.apply(params[1:], layers[0])[0]
  np.testing.assert_allclose(ys, (layers[0] + second) / math.sqrt(2.0), atol=1e-6)
  assert lstm.residual_factor("none") == 1.0 and lstm.residual_factor(0.5) == 0.5


def _stack_by_hand(params, xs, factor):
  """Each layer's merged output, built layer by layer: x_l = factor (x_(l-1) + f_l(x_(l-1)))."""
  x = lstm.apply(params[:1], xs)[0]
  out = [x]
  for layer in params[1:]:
    x = factor * (x + lstm.apply([layer], x)[0])
    out.append(x)
  return out


@pytest.mark.parametrize("preset", ["keras", "pytorch", "flax_linen"])
def test_residual_variance_over_depth(preset):
  # An 8-layer stack at initialization, 4 seeds. The plain sum adds each
  # branch's variance (plus twice the covariance, positive here), so the
  # variance grows at every merge; the 1/sqrt(2) merge weights the branches
  # with squared weights summing to 1, so it never exceeds the first layer's.
  depth = 8

  @jax.jit
  def variances(key):
    params = init_params(key, 32, 32, preset=preset, num_layers=depth)
    xs = 0.5 * jax.random.normal(jax.random.fold_in(key, 1), (32, 20, 32))
    out = []
    for scale, factor in (("none", 1.0), ("sqrt_half", 1 / math.sqrt(2))):
      _, _, layers = lstm.apply(params, xs, residual=True, residual_scale=scale,
                                return_layers=True)
      by_hand = _stack_by_hand(params, xs, factor)
      gap = jnp.max(jnp.stack([jnp.abs(a - b).max() for a, b in zip(layers, by_hand)]))
      out.append((jnp.stack([jnp.var(l) for l in layers]), gap))
    return out

  results = [variances(jax.random.key(s)) for s in range(4)]
  assert max(float(g) for r in results for _, g in r) < 2e-6  # the merge is what it says
  grow = np.mean([r[0][0] for r in results], 0)
  keep = np.mean([r[1][0] for r in results], 0)
  assert np.all(np.diff(grow) > 0) and grow[-1] > 2.5 * grow[0]
  assert np.all(keep[1:] <= keep[0]) and keep[-1] < grow[-1] / 5


def test_dropout_modes(key):
  params = _params(key)
  xs = jax.random.normal(key, (64, 5, 3))
  det, _ = lstm.apply(params, xs, dropout=0.5, input_dropout=0.5, deterministic=True)
  np.testing.assert_array_equal(det, lstm.apply(params, xs)[0])
  a, _ = lstm.apply(params, xs, dropout=0.5, deterministic=False, key=jax.random.key(1))
  b, _ = lstm.apply(params, xs, dropout=0.5, deterministic=False, key=jax.random.key(1))
  c, _ = lstm.apply(params, xs, dropout=0.5, deterministic=False, key=jax.random.key(2))
  np.testing.assert_array_equal(a, b)
  assert float(jnp.abs(a - c).max()) > 1e-3
  with pytest.raises(ValueError, match="explicit key"):
    lstm.apply(params, xs, dropout=0.5, deterministic=False)


def test_inverted_dropout_preserves_mean():
  x = jnp.ones((400_000,))
  kept = lstm.inverted_dropout(jax.random.key(0), x, 0.3)
  assert abs(float(kept.mean()) - 1.0) < 0.01
  assert abs(float((kept == 0).mean()) - 0.3) < 0.005


def test_matches_torch_lstm_with_converted_weights(key):
  import torch
  from lstm_init.core import interop
  torch.manual_seed(0)
  net = torch.nn.LSTM(3, 6, num_layers=2, batch_first=True)
  params = [jax.tree.map(jnp.asarray, p) for p in interop.from_torch(net.state_dict(), 2)]
  xs = np.random.default_rng(0).normal(size=(4, 10, 3)).astype(np.float32)
  with torch.no_grad():
    out, (h, c) = net(torch.from_numpy(xs))
  ys, final = lstm.apply(params, jnp.asarray(xs))
  np.testing.assert_allclose(ys, out.numpy(), atol=1e-5)
  for l in range(2):
    np.testing.assert_allclose(final[l][0], h[l].numpy(), atol=1e-5)
    np.testing.assert_allclose(final[l][1], c[l].numpy(), atol=1e-5)
