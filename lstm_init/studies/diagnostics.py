"""Signal propagation at initialization: how far signals and gradients travel.

Usage:

  d = diagnose(params, xs)          # one seed's LSTM stack, xs: [batch, time, I]
  d = jax.vmap(diagnose, (0, None))(stacked_params, xs)   # many seeds at once

`diagnose` returns, for one parameter set on a batch of inputs:
  h_var, c_var          [layer, time]  variance of h and c over batch and units
  grad_norm             [layer, distance]  mean over the batch of the norm of
                        dL/d(h_t, c_t), the gradient with respect to the whole
                        LSTM state at step t; L = the top layer's last hidden
                        state projected on a fixed unit vector; distance 0 is
                        the last step. grad_norm_h and grad_norm_c split it.
  saturation            [layer, gate]  share of gate activations below 0.05 or
                        above 0.95 (i, f, o; g is mapped to (g + 1) / 2)
  forget_mean           [layer]  mean forget gate activation (retention)
  timescale             [layer]  median over units of 1 / (1 - mean f_u), the
                        number of steps a unit's memory lasts
  jacobian              [sample, H, H]  dh_t/dh_(t-1) of layer 0 (c_(t-1) held
                        fixed) at sampled steps and batch rows
`recurrent_spectra(W_h)` gives the singular values of each gate's H x H block,
`residual_depth_variance` the output variance per depth of a deep stack with
and without residual scaling, and `reach(grad_norm)` the distance at which
the gradient falls below a fraction of its value at distance 0.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lstm_init.core import lstm

GATE_NAMES = ("input", "forget", "candidate", "output")
SATURATION = 0.05


def _scan_layer_full(p, xs, h0, c0, delta):
  """A layer recording (h, c, gate activations).

  `delta = (dh, dc)`, each [T, B, H], is added to h_t and c_t; it is zero, and
  the gradient of a loss with respect to it is dL/dh_t and dL/dc_t (the total
  derivative through every later step).
  """

  def step(carry, inp):
    h, c = carry
    x, dh, dc = inp
    i, f, g, o = lstm.gates(x @ p["W_x"] + h @ p["W_h"] + p["b"])
    c = f * c + i * g + dc
    h = o * jnp.tanh(c) + dh
    return (h, c), (h, c, jnp.concatenate([i, f, g, o], -1))

  _, (hs, cs, acts) = jax.lax.scan(step, (h0, c0), (xs, *delta))
  return hs, cs, acts


def _stack(params, xs_tm, deltas):
  hs_all, cs_all, acts_all = [], [], []
  inp = xs_tm
  for p, d in zip(params, deltas):
    b, hidden = xs_tm.shape[1], p["W_h"].shape[0]
    zeros = jnp.zeros((b, hidden), xs_tm.dtype)
    hs, cs, acts = _scan_layer_full(p, inp, zeros, zeros, d)
    hs_all.append(hs)
    cs_all.append(cs)
    acts_all.append(acts)
    inp = hs
  return hs_all, cs_all, acts_all


def diagnose(params: Sequence[dict], xs: jax.Array, probe: jax.Array | None = None,
             jacobian_samples: int = 8) -> dict[str, jax.Array]:
  """Diagnostics of one LSTM stack at initialization (see module docstring).

  Args:
    params: list of layer dicts.
    xs: [batch, time, I] inputs.
    probe: [H] unit vector defining the loss at the last step (default: a
      fixed random direction, the same for every seed).
    jacobian_samples: how many (step, row) pairs the Jacobian is taken at.

  Returns:
    The arrays listed in the module docstring, by name (plus grad_norm_h and
    grad_norm_c, each [layer, distance]).
  """
  xs_tm = jnp.swapaxes(xs, 0, 1)
  time, batch = xs_tm.shape[:2]
  hidden = params[-1]["W_h"].shape[0]
  if probe is None:
    probe = jax.random.normal(jax.random.key(12345), (hidden,))
    probe = probe / jnp.linalg.norm(probe)
  deltas = [(jnp.zeros((time, batch, p["W_h"].shape[0]), xs.dtype),) * 2 for p in params]

  def loss(deltas):
    hs, _, _ = _stack(params, xs_tm, deltas)
    return jnp.mean(hs[-1][-1] @ probe)

  grads = jax.grad(loss)(deltas)
  hs, cs, acts = _stack(params, xs_tm, deltas)
  # Per example (undoing the batch mean of the loss), then averaged over the batch;
  # reversed so that index 0 is the last step.
  norm = lambda g: jnp.linalg.norm(g * batch, axis=-1)
  grad_norm = jnp.stack([jnp.mean(jnp.sqrt(norm(gh) ** 2 + norm(gc) ** 2), axis=1)[::-1]
                         for gh, gc in grads])
  grad_norm_h = jnp.stack([jnp.mean(norm(gh), axis=1)[::-1] for gh, _ in grads])
  grad_norm_c = jnp.stack([jnp.mean(norm(gc), axis=1)[::-1] for _, gc in grads])
  h_var = jnp.stack([jnp.var(h, axis=(1, 2)) for h in hs])
  c_var = jnp.stack([jnp.var(c, axis=(1, 2)) for c in cs])
  sat, fmean, tscale = [], [], []
  for a in acts:
    i, f, g, o = jnp.split(a, 4, axis=-1)
    per_gate = [i, f, (g + 1.0) / 2.0, o]
    sat.append(jnp.stack([jnp.mean((x < SATURATION) | (x > 1 - SATURATION))
                          for x in per_gate]))
    fmean.append(jnp.mean(f))
    unit_f = jnp.mean(f, axis=(0, 1))
    tscale.append(jnp.median(1.0 / jnp.maximum(1.0 - unit_f, 1e-6)))
  # One-step Jacobians of layer 0 at sampled steps/rows, c_(t-1) held fixed.
  p0 = params[0]
  zeros = jnp.zeros((batch, p0["W_h"].shape[0]), xs.dtype)
  h_prev = jnp.concatenate([zeros[None], hs[0][:-1]], 0)
  c_prev = jnp.concatenate([zeros[None], cs[0][:-1]], 0)
  ts = jnp.linspace(time // 4, time - 1, jacobian_samples).astype(int)
  rows = jnp.arange(jacobian_samples) % batch

  def h_next(h, x, c):
    i, f, g, o = lstm.gates(x @ p0["W_x"] + h @ p0["W_h"] + p0["b"])
    return o * jnp.tanh(f * c + i * g)

  jac = jax.vmap(lambda t, r: jax.jacfwd(h_next)(h_prev[t, r], xs_tm[t, r], c_prev[t, r]))(
      ts, rows)
  return {"h_var": h_var, "c_var": c_var, "grad_norm": grad_norm,
          "grad_norm_h": grad_norm_h, "grad_norm_c": grad_norm_c,
          "saturation": jnp.stack(sat), "forget_mean": jnp.stack(fmean),
          "timescale": jnp.stack(tscale), "jacobian": jac}


def singular_values(matrices: np.ndarray) -> np.ndarray:
  """Singular values of a stack of matrices, on the host (no LAPACK in XLA).

  Args:
    matrices: [..., m, n].

  Returns:
    [..., min(m, n)] float64 singular values, descending.
  """
  m = np.asarray(matrices, np.float64)
  return np.linalg.svd(m, compute_uv=False)


def recurrent_spectra(w_h: np.ndarray) -> np.ndarray:
  """Singular values of each gate block of W_h [..., H, 4H] -> [..., 4, H].

  Args:
    w_h: [..., H, 4H] recurrent kernels, gate blocks (i, f, g, o).

  Returns:
    [..., 4, H] singular values per gate block.
  """
  w = np.asarray(w_h)
  blocks = np.stack(np.split(w, 4, axis=-1), axis=-3)
  return singular_values(blocks)


def reach(grad_norm: np.ndarray, fraction: float = 1e-3) -> np.ndarray:
  """First distance at which grad_norm[..., d] < fraction * grad_norm[..., 0].

  Args:
    grad_norm: [..., distance] gradient norms (`diagnose`'s grad_norm).
    fraction: the threshold relative to distance 0.

  Returns:
    [...] int distances; the length of the distance axis where it never falls
    that low.
  """
  g = np.asarray(grad_norm)
  below = g < fraction * g[..., :1]
  first = np.argmax(below, axis=-1)
  return np.where(below.any(axis=-1), first, g.shape[-1])


def residual_depth_variance(params: Sequence[dict], xs: jax.Array) -> dict[str, jax.Array]:
  """Output variance after each layer of a stack (input width = hidden width).

  Args:
    params: list of layer dicts, every layer H wide (I = H).
    xs: [batch, time, H] inputs.

  Returns:
    Variances [depth] for a plain stack ("plain"), residual merges without
    scaling ("residual_none": x + f(x)) and with the 1/sqrt(2) scaling
    ("residual_sqrt_half").
  """
  out = {}
  for name, kw in (("plain", dict()), ("residual_none", dict(residual=True,
                                                              residual_scale="none")),
                   ("residual_sqrt_half", dict(residual=True, residual_scale="sqrt_half"))):
    _, _, layers = lstm.apply(params, xs, return_layers=True, **kw)
    out[name] = jnp.stack([jnp.var(l) for l in layers])
  return out
