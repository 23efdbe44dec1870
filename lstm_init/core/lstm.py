"""A pure-functional LSTM on `jax.lax.scan`.

Usage:

  params = lstm_init.init_params(key, input_size=3, hidden_size=32, num_layers=2)
  ys, carry = lstm_init.core.lstm.apply(params, xs)          # xs: [batch, time, 3]
  ys, carry = lstm_init.core.lstm.apply(params, xs, carry)   # continue from a carry

Parameters of one layer are `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}` with
gate blocks (i, f, g, o) along the last axis; a stack is a list of them (one
layer's dict alone is taken as a stack of one). A
carry is `(h, c)`, each `[batch, H]`; a stack's carry is a list of them. One
step is

  i, f, g, o = split(x W_x + h W_h + b)
  c' = sigmoid(f) c + sigmoid(i) tanh(g)
  h' = sigmoid(o) tanh(c')

Everything here works under `jit`, `grad` and `vmap` over parameters.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from lstm_init.core import arguments
from lstm_init.core.fused import fused_layer
from lstm_init.errors import ConfigError, unknown

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
    scale: "sqrt_half", "none" or a finite number (or numeric string).

  Returns:
    The factor as a float (a traced number is returned as it is).

  Raises:
    ConfigError: for another string, NaN or an infinity.
  """
  valid = "'sqrt_half', 'none' or a finite number"
  if isinstance(scale, str):
    if scale in ("sqrt_half", "none"):
      return 1.0 / math.sqrt(2.0) if scale == "sqrt_half" else 1.0
    try:
      scale = float(scale)
    except ValueError:
      raise ConfigError(f"unknown residual_scale {scale!r}; valid choices: {valid}") from None
  return arguments.finite("", "residual_scale", scale, valid=valid)


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


def _checked_params(params: Params | Mapping[str, jax.Array], impl: str) -> list:
  """The stack as a list (one layer's dict is a stack of one), its shapes checked."""
  if impl not in _LAYERS:
    raise unknown("impl (layer implementation)", impl, _LAYERS)
  if isinstance(params, Mapping) and "W_x" in params:
    params = [params]
  params = list(params) if isinstance(params, Sequence) else []
  if not params:
    raise ConfigError("lstm.apply: params must be a non-empty list of layer dicts "
                      "{'W_x': [I, G*H], 'W_h': [H, G*H], 'b': [G*H]}")
  gates = 4 if _CELL_OF[impl] == "lstm" else 1
  width = None
  for l, p in enumerate(params):
    missing = [k for k in ("W_x", "W_h", "b") if not isinstance(p, Mapping) or k not in p]
    if missing:
      raise ConfigError(f"lstm.apply: params[{l}] lacks {missing[0]!r}; valid: layer dicts "
                        "with W_x, W_h and b")
    shapes = {k: tuple(jnp.shape(p[k])) for k in ("W_x", "W_h", "b")}
    hidden = shapes["W_h"][0] if len(shapes["W_h"]) == 2 else -1
    want = {"W_x": (width if width is not None else (shapes["W_x"] or (None,))[0],
                    gates * hidden),
            "W_h": (hidden, gates * hidden), "b": (gates * hidden,)}
    if hidden < 1 or shapes != want:
      raise ConfigError(f"lstm.apply: params[{l}] has shapes W_x {shapes['W_x']}, W_h "
                        f"{shapes['W_h']}, b {shapes['b']}; valid for impl {impl!r}: W_x "
                        f"[I, {gates}H], W_h [H, {gates}H], b [{gates}H]"
                        + ("" if l == 0 else f" with I = {width}, the previous layer's H"))
    width = hidden
  return params


def _check_carry(params: list, carry: Sequence[Carry], batch: int) -> None:
  """Refuses a carry whose layers or shapes do not match the stack."""
  want = [(batch, p["W_h"].shape[0]) for p in params]
  got = [tuple(tuple(jnp.shape(a)) for a in layer) for layer in carry]
  if got != [(w, w) for w in want]:
    raise ConfigError(f"lstm.apply: the carry must be one (h, c) per layer with shapes "
                      f"{want}, got {got}")


def apply(params: Params, xs: jax.Array, carry: Sequence[Carry] | None = None,
          lengths: jax.Array | None = None, *, carry_at: jax.Array | None = None,
          residual: bool = False, residual_scale: str | float = "sqrt_half",
          dropout: float = 0.0, input_dropout: float = 0.0, deterministic: bool = True,
          key: jax.Array | None = None, impl: str = "scan",
          return_layers: bool = False):
  """Runs an LSTM stack over a batch of sequences.

  Args:
    params: list of layer dicts (see module docstring), or one layer's dict.
    xs: [batch, time >= 1, I].
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
    ConfigError: (one line) for an unknown `impl`; params, xs or a carry of
      inconsistent shapes, or a sequence of no steps; a rate outside [0, 1);
      `lengths` or `carry_at` outside [0, time] (checked when concrete: a
      traced value is not known); dropout active in training mode without `key`.
  """
  params = _checked_params(params, impl)
  xs = jnp.asarray(xs)
  if xs.ndim != 3 or xs.shape[1] == 0:
    raise ConfigError(f"lstm.apply: xs must be [batch, time >= 1, features], got shape "
                      f"{tuple(xs.shape)}")
  batch, time = xs.shape[0], xs.shape[1]
  if xs.shape[2] != params[0]["W_x"].shape[0]:
    raise ConfigError(f"lstm.apply: xs has {xs.shape[2]} features per step but the first "
                      f"layer's W_x takes {params[0]['W_x'].shape[0]}")
  if carry is None:
    carry = zero_carry(params, batch, xs.dtype)
  _check_carry(params, carry, batch)
  dropout = arguments.rate("lstm.apply", "dropout", dropout)
  input_dropout = arguments.rate("lstm.apply", "input_dropout", input_dropout)
  # A traced rate (vmapped over runs) is taken as active: its value is not known here.
  drop = arguments.is_traced(dropout) or dropout > 0
  drop_input = arguments.is_traced(input_dropout) or input_dropout > 0
  training = not deterministic and (drop or drop_input)
  if training and key is None:
    raise ConfigError("lstm.apply: dropout in training mode needs an explicit key; valid: "
                      "key=jax.random.key(seed), or deterministic=True")
  if training:
    arguments.prng_key("lstm.apply", key)
  layer_fn = _LAYERS[impl]
  for name, counts in (("lengths", lengths), ("carry_at", carry_at)):
    if counts is not None:
      arguments.steps("lstm.apply", name, counts, batch, time)
  if lengths is not None:
    lengths = jnp.asarray(lengths)
  if carry_at is not None:
    carry_at = jnp.asarray(carry_at)
  steps = lengths if lengths is not None else carry_at
  valid = None
  if lengths is not None:
    valid = (jnp.arange(time)[:, None] < lengths[None, :])[..., None]  # [T, B, 1]

  h = jnp.swapaxes(xs, 0, 1)  # time-major [T, B, I]
  if training and drop_input:
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
    if training and drop and l < len(params) - 1:
      out = inverted_dropout(jax.random.fold_in(key, l), out, dropout)
    outputs.append(out)
    h = out
  ys = jnp.swapaxes(h, 0, 1)
  if return_layers:
    return ys, final, [jnp.swapaxes(o, 0, 1) for o in outputs]
  return ys, final


register_layer("fused", fused_layer)
