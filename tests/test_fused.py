"""The fused layer computes the plain scan's function and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import init_params
from lstm_init.core import lstm
from lstm_init.core.fused import fused_layer

# Gradients of the custom VJP against jax.grad of the plain scan (the bar).
GRAD_RTOL = 1e-5


def _layer_inputs(key, i=3, h=6, t=9, b=4):
  k = jax.random.split(key, 5)
  p = init_params(k[0], i, h, preset="pytorch")[0]
  p = dict(p, b=p["b"] + 0.5 * jax.random.normal(k[1], p["b"].shape))
  xs = jax.random.normal(k[2], (t, b, i))
  h0 = 0.5 * jax.random.normal(k[3], (b, h))
  c0 = 0.5 * jax.random.normal(k[4], (b, h))
  return p, xs, h0, c0


def _rel(a, b):
  return float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-12))


def test_forward_equals_scan():
  p, xs, h0, c0 = _layer_inputs(jax.random.key(0))
  hs, cs = jax.jit(fused_layer)(p, xs, h0, c0)
  rhs, rcs = lstm.scan_layer(p, xs, h0, c0)
  np.testing.assert_allclose(hs, rhs, atol=2e-6)
  np.testing.assert_allclose(cs, rcs, atol=2e-6)


def test_gradients_equal_autodiff_of_the_scan():
  p, xs, h0, c0 = _layer_inputs(jax.random.key(1))
  t1, t2 = jax.random.normal(jax.random.key(2), (2,) + xs.shape[:2] + (6,))

  def loss(fn):
    def f(p, xs, h0, c0):
      hs, cs = fn(p, xs, h0, c0)
      return jnp.sum(jnp.sin(hs) * t1) + jnp.sum(cs * t2) + jnp.sum(hs[-1] ** 2)
    return f

  args = (p, xs, h0, c0)
  got = jax.jit(jax.grad(loss(fused_layer), argnums=(0, 1, 2, 3)))(*args)
  ref = jax.grad(loss(lstm.scan_layer), argnums=(0, 1, 2, 3))(*args)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
    assert _rel(a, b) <= GRAD_RTOL, _rel(a, b)


@pytest.mark.parametrize("kw", [dict(), dict(residual=True), dict(lengths=True)])
def test_stack_apply_gradients_match_under_vmap(kw):
  keys = jax.random.split(jax.random.key(3), 3)
  params = jax.vmap(lambda k: init_params(k, 5, 5, preset="keras", num_layers=2))(keys)
  xs = jax.random.normal(jax.random.key(4), (4, 7, 5))
  lengths = jnp.array([7, 3, 5, 1]) if kw.pop("lengths", False) else None

  def loss(impl):
    def f(p):
      ys, carry = lstm.apply(p, xs, lengths=lengths, impl=impl, **kw)
      return jnp.mean(ys ** 2) + jnp.mean(carry[-1][1] ** 2)
    return f

  got = jax.jit(jax.vmap(jax.grad(loss("fused"))))(params)
  ref = jax.vmap(jax.grad(loss("scan")))(params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
    assert _rel(a, b) <= GRAD_RTOL, _rel(a, b)


def test_fused_and_scan_sweeps_train_the_same(tmp_path):
  from lstm_init.engine import sweep
  from tests.helpers import tiny_config
  a, b = tiny_config(), tiny_config()
  a.model.impl, b.model.impl = "fused", "scan"
  ra = sweep.run_sweep(a, str(tmp_path / "a"), log=lambda s: None)
  rb = sweep.run_sweep(b, str(tmp_path / "b"), log=lambda s: None)
  la = np.array([r["final_eval_loss"] for r in ra.rows])
  lb = np.array([r["final_eval_loss"] for r in rb.rows])
  # 20 Adam steps amplify 1e-7 differences a little; both train the same way.
  np.testing.assert_allclose(la, lb, rtol=1e-3)
