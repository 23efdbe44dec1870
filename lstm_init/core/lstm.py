"""A pure-functional LSTM on `jax.lax.scan`.

Usage:

  params = lstm_init.init_params(key, input_size=3, hidden_size=32, num_layers=2)
  ys, carry = lstm_init.core.lstm.apply(params, xs)          # xs: [batch, time, 3]
  ys, carry = lstm_init.core.lstm.apply(params, xs, carry)   # continue from a carry

Parameters of one layer are `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}` with
gate blocks (i, f, g, o) along the last axis; a stack is a list of them. A
carry is `(h, c)`, each `[batch, H]`; a stack's carry is a list of them. One
step is

  i, f, g, o = split(x W_x + h W_h + b)
  c' = sigmoid(f) c + sigmoid(i) tanh(g)
  h' = sigmoid(o) tanh(c')

Everything here works under `jit`, `grad` and `vmap` over parameters.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import chex
import jax
import jax.numpy as jnp

from lstm_init.core.fused import fused_layer

Carry = tuple[jax.Array, jax.Array]
Params = Sequence[dict[str, jax.Array]]


def gates(z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """Splits pre-activations `[..., 4H]` into activated gates i, f, g, o.

  Args:
    z: [..., 4H] pre-activations, blocks (i, f, g, o).

  Returns:
    (i, f, g, o), each [..., H]: sigmoid on i, f, o and tanh on g.
  """
  i, f, g, o = jnp.split(z, 4, axis=-1)
  return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def cell(p: dict[str, jax.Array], carry: Carry, x: jax.Array) -> Carry:
  """One LSTM step.

  Args:
    p: one layer's parameters.
    carry: (h, c), each [batch, H].
    x: [batch, I] input of the step.

  Returns:
    The new (h, c), each [batch, H].
  """
  h, c = carry
  i, f, g, o = gates(x @ p["W_x"] + h @ p["W_h"] + p["b"])
  c = f * c + i * g
  return o * jnp.tanh(c), c


def scan_layer(p: dict[str, jax.Array], xs: jax.Array, h0: jax.Array,
               c0: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The reference layer: one `cell` per step under `lax.scan`.

  Args:
    p: one layer's parameters.
    xs: [time, batch, I], time-major.
    h0, c0: [batch, H].

  Returns:
    (hs, cs), each [time, batch, H]: the state after every step.
  """

  def step(carry, x):
    carry = cell(p, carry, x)
    return carry, carry

  _, (hs, cs) = jax.lax.scan(step, (h0, c0), xs)
  return hs, cs


LayerFn = Callable[[dict, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
_LAYERS: dict[str, LayerFn] = {"scan": scan_layer}
_CELL_OF: dict[str, str] = {"scan": "lstm"}


def register_layer(name: str, fn: LayerFn, cell: str = "lstm") -> None:
  """Registers a layer implementation under `name`: another implementation of
  `scan_layer` (cell "lstm"), or another cell with the same carry (`lstm_init.core.rnn`).

  Args:
    name: the `impl` name `apply` will accept.
    fn: `(p, xs [T, B, I], h0 [B, H], c0 [B, H]) -> (hs, cs)`, each [T, B, H].
    cell: the cell it computes.
  """
  _LAYERS[name] = fn
  _CELL_OF[name] = cell


def layer_impls(cell: str = "lstm") -> list[str]:
  """Names accepted by `apply(..., impl=...)` that compute `cell`.

  Args:
    cell: the cell ("lstm", or a cell of `lstm_init.core.rnn`).

  Returns:
    The sorted implementation names.
  """
  return sorted(n for n in _LAYERS if _CELL_OF[n] == cell)


def zero_carry(params: Params, batch: int, dtype=jnp.float32) -> list[Carry]:
  """A zero carry for every layer of `params`.

  Args:
    params: list of layer dicts.
    batch: rows in the batch.
    dtype: carry dtype.

  Returns:
    A list of per-layer (h, c), each [batch, H_l] zeros.
  """
  out = []
  for p in params:
    h = jnp.zeros((batch, p["W_h"].shape[0]), dtype)
    out.append((h, h))
  return out


def residual_factor(scale: str | float) -> float:
  """The factor applied to `x + layer(x)` at a residual merge.

  Adding two uncorrelated branches of equal variance v gives variance 2v, so
  with `"sqrt_half"` (the default) each merge multiplies by 1/sqrt(2) and the
  variance stays v at every depth. `"none"` is the plain sum (variance grows
  linearly with depth); a number is used as given.

  Args:
    scale: "sqrt_half", "none" or a number (or numeric string).

  Returns:
    The factor as a float.
  """
  if scale == "sqrt_half":
    return 1.0 / math.sqrt(2.0)
  if scale == "none":
    return 1.0
  return float(scale)


def inverted_dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
  """Inverted dropout: each entry of `x` zeroed with probability `rate`, the
  others scaled by 1 / (1 - rate), so the mean is kept.

  Args:
    key: the dropout key.
    x: any-shape array.
    rate: drop probability, < 1.

  Returns:
    An array of the shape and dtype of `x`.
  """
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


def _at_step(seq: jax.Array, steps: jax.Array, initial: jax.Array) -> jax.Array:
  """seq[steps[b] - 1, b] for each row b, or initial[b] where steps[b] == 0."""
  idx = jnp.clip(steps - 1, 0, seq.shape[0] - 1)
  picked = jnp.take_along_axis(seq, idx[None, :, None], axis=0)[0]
  return jnp.where((steps > 0)[:, None], picked, initial)


def apply(params: Params, xs: jax.Array, carry: Sequence[Carry] | None = None,
          lengths: jax.Array | None = None, *, carry_at: jax.Array | None = None,
          residual: bool = False, residual_scale: str | float = "sqrt_half",
          dropout: float = 0.0, input_dropout: float = 0.0, deterministic: bool = True,
          key: jax.Array | None = None, impl: str = "scan",
          return_layers: bool = False):
  """Runs an LSTM stack over a batch of sequences.

  Args:
    params: list of layer dicts (see module docstring).
    xs: [batch, time, I].
    carry: list of per-layer (h, c), each [batch, H]; None means zeros.
    lengths: [batch] ints, right padding. Outputs at steps >= lengths[b] are
      zero, and the returned carry of row b is the one after its last valid
      step (as if the carry froze there).
    carry_at: [batch] ints; return the carry after that many steps instead of
      the last one, without masking outputs. Stateful training over
      overlapping windows uses it to carry the state at the window stride.
      Ignored when `lengths` is given.
    residual: add each layer's input to its output where widths match.
    residual_scale: see `residual_factor`.
    dropout: rate on the outputs of every layer but the last.
    input_dropout: rate on the inputs xs.
    deterministic: evaluation mode; no dropout when True.
    key: the dropout key, required when dropout is active.
    impl: which layer implementation to use (`layer_impls(cell)`; a plain RNN
      cell is impl "rnn_tanh" or "rnn_relu", see `lstm_init.core.rnn`).
    return_layers: also return every layer's output sequence.

  Returns:
    (ys, final_carry): ys [batch, time, H_last] and a list of per-layer (h, c).
    With `return_layers`, a third element: a list of [batch, time, H_l].

  Raises:
    ValueError: dropout active in training mode without `key`.
  """
  chex.assert_rank(xs, 3)
  batch, time = xs.shape[0], xs.shape[1]
  chex.assert_shape(params[0]["W_x"], (xs.shape[2], None))
  if carry is None:
    carry = zero_carry(params, batch, xs.dtype)
  chex.assert_shape([c for layer in carry for c in layer],
                    [(batch, p["W_h"].shape[0]) for p in params for _ in range(2)])
  training = not deterministic and (dropout > 0 or input_dropout > 0)
  if training and key is None:
    raise ValueError("dropout in training mode needs an explicit key")
  layer_fn = _LAYERS[impl]
  steps = lengths if lengths is not None else carry_at
  valid = None
  if lengths is not None:
    valid = (jnp.arange(time)[:, None] < lengths[None, :])[..., None]  # [T, B, 1]

  h = jnp.swapaxes(xs, 0, 1)  # time-major [T, B, I]
  if training and input_dropout > 0:
    h = inverted_dropout(jax.random.fold_in(key, 10_000), h, input_dropout)
  final, outputs = [], []
  factor = residual_factor(residual_scale)
  for l, (p, (h0, c0)) in enumerate(zip(params, carry)):
    hs, cs = layer_fn(p, h, h0, c0)
    if steps is None:
      final.append((hs[-1], cs[-1]))
    else:
      final.append((_at_step(hs, steps, h0), _at_step(cs, steps, c0)))
    out = hs
    if valid is not None:
      out = jnp.where(valid, out, 0.0)
    if residual and l > 0 and h.shape[-1] == out.shape[-1]:
      out = (h + out) * factor
    if training and dropout > 0 and l < len(params) - 1:
      out = inverted_dropout(jax.random.fold_in(key, l), out, dropout)
    outputs.append(out)
    h = out
  ys = jnp.swapaxes(h, 0, 1)
  if return_layers:
    return ys, final, [jnp.swapaxes(o, 0, 1) for o in outputs]
  return ys, final


register_layer("fused", fused_layer)
