"""LSTM initializers: named initializers, framework presets and `init_params`.

Usage:

  params = init_params(jax.random.key(0), input_size=8, hidden_size=64,
                       preset="pytorch", num_layers=2, forget_bias=1.0)

Every initializer here follows the JAX protocol `(key, shape, dtype) ->
array`, so it plugs into `flax.linen.Dense` and friends as well. Shapes are in
the canonical layout of `lstm_init.lstm`: `W_x: [I, 4H]`, `W_h: [H, 4H]`,
`b: [4H]`, gate blocks (i, f, g, o) along the last axis.

A preset reproduces one framework's default in that layout: fan-in and fan-out
are computed on the framework's own weight shapes (TF1 and Haiku use one
kernel on `concat([x, h])`), a forget offset that the framework adds at run
time is folded into the f block of `b`, and PyTorch's two biases are summed.
Every part of a preset can be overridden by name or by a callable.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import chex
import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError, unknown

Initializer = Callable[..., jax.Array]
NUM_GATES = 4
GATES = ("i", "f", "g", "o")
_INIT = jax.nn.initializers


# --------------------------------------------------------------------------
# Building blocks that jax.nn.initializers does not have.


def symmetric_uniform(limit: float) -> Initializer:
  """U(-limit, limit), the distribution PyTorch and Equinox use."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -limit, limit)

  return init


def hidden_uniform() -> Initializer:
  """U(-1/sqrt(H), 1/sqrt(H)) with H read off the canonical last axis (4H).

  This is `torch.nn.LSTM.reset_parameters` and `equinox.nn.LSTMCell`: the limit
  depends on the hidden size only, not on fan-in or fan-out.
  """

  def init(key, shape, dtype=jnp.float32):
    hidden = shape[-1] // NUM_GATES
    return symmetric_uniform(1.0 / math.sqrt(hidden))(key, shape, dtype)

  return init


def summed_hidden_uniform(count: int = 2) -> Initializer:
  """Sum of `count` independent `hidden_uniform` draws (PyTorch's b_ih + b_hh)."""

  def init(key, shape, dtype=jnp.float32):
    draws = hidden_uniform()(key, (count, *shape), dtype)
    return draws.sum(axis=0)

  return init


def scaled_identity(scale: float = 1.0) -> Initializer:
  """`scale * I` on a square matrix; use through `per_gate` for `[H, 4H]`."""

  def init(key, shape, dtype=jnp.float32):
    del key
    if len(shape) != 2:
      raise ConfigError(f"identity initializer needs a 2-D shape, got {shape}")
    return scale * jnp.eye(shape[0], shape[1], dtype=dtype)

  return init


def householder_q(a: jax.Array) -> jax.Array:
  """Q of `a = QR` (`a: [m, n]`, m >= n) with a positive diagonal of R.

  Householder reflections written with `jnp` ops inside `lax.fori_loop`, so
  the draw never calls a LAPACK kernel. jaxlib's batched CPU QR
  (`lapack_sgeqrf_ffi`) blocks workers of XLA's CPU thread pool while it waits
  on sub-tasks of its own; several such QRs in one program, or one beside
  the other work of a sharded program, can block every worker and the program
  never returns. The positive-diagonal QR is unique, so this is the same Q as
  `jnp.linalg.qr(a)` times `sign(diag(R))` up to rounding (about 1e-6 in
  float32), and the same distribution (Haar, Mezzadri 2007).
  """
  m, n = a.shape
  if m < n:
    raise ValueError(f"householder_q needs rows >= columns, got {a.shape}")
  rows = jnp.arange(m)

  def reflect(k, carry):
    r, us = carry
    x = jnp.where(rows >= k, jax.lax.dynamic_index_in_dim(r, k, axis=1, keepdims=False), 0)
    norm = jnp.sqrt(jnp.sum(x * x))
    sign = jnp.where(x[k] >= 0, 1.0, -1.0).astype(a.dtype)
    v = x + sign * norm * (rows == k)
    vv = jnp.sum(v * v)
    u = v * jnp.where(vv > 0, jnp.sqrt(2.0 / jnp.where(vv > 0, vv, 1.0)), 0.0)
    return r - jnp.outer(u, u @ r), us.at[k].set(u)  # (I - u u^T) r

  r, us = jax.lax.fori_loop(0, n, reflect, (a, jnp.zeros((n, m), a.dtype)))

  def accumulate(j, q):  # Q = H_0 H_1 ... H_{n-1} I[:, :n], applied right to left
    u = us[n - 1 - j]
    return q - jnp.outer(u, u @ q)

  q = jax.lax.fori_loop(0, n, accumulate, jnp.eye(m, n, dtype=a.dtype))
  return q * jnp.sign(jnp.diagonal(r)).astype(a.dtype)


def orthogonal(scale: float = 1.0) -> Initializer:
  """`jax.nn.initializers.orthogonal(scale)` without LAPACK (see `householder_q`).

  The same draw: a Gaussian `[max(r, c), min(r, c)]` matrix from the key, its
  Q with sign(diag R) folded in, transposed when the rows are fewer, where
  `r * c` is the shape with the last axis as columns.
  """

  def init(key, shape, dtype=jnp.float32):
    if len(shape) < 2:
      raise ConfigError(f"orthogonal initializer needs at least a 2-D shape, got {shape}")
    n_cols = shape[-1]
    n_rows = math.prod(shape) // n_cols
    z = jax.random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dtype)
    q = householder_q(z)
    if n_rows < n_cols:
      q = q.T
    return jnp.asarray(scale, dtype) * q.reshape(shape)

  return init


def per_gate(base: Initializer, num_gates: int = NUM_GATES) -> Initializer:
  """Applies `base` to each gate block of the last axis separately.

  `per_gate(orthogonal())` on `[H, 4H]` gives four independent `H x H`
  orthogonal blocks (`flax.linen.LSTMCell` and `flax.nnx.LSTMCell`), where
  `orthogonal()` on the whole matrix gives orthonormal rows across all four
  blocks (Keras `LSTM`, `flax.nnx.OptimizedLSTMCell`). The blocks are drawn by
  one vmapped call.
  """

  def init(key, shape, dtype=jnp.float32):
    *lead, width = shape
    if width % num_gates:
      raise ConfigError(f"last axis {width} is not divisible by {num_gates} gates")
    block = (*lead, width // num_gates)
    keys = jax.random.split(key, num_gates)
    blocks = jax.vmap(lambda k: base(k, block, dtype))(keys)
    return jnp.concatenate(list(blocks), axis=-1)

  return init


def rows_of(base: Initializer, full_rows: int, offset: int = 0) -> Initializer:
  """Draws `base` on a taller `[full_rows, cols]` matrix and keeps some rows.

  This computes fan-in on a framework's own fused kernel. TF1 draws one
  `[I + H, 4H]` kernel for `concat([x, h])`; its `W_x` is rows `[0, I)` and its
  `W_h` rows `[I, I + H)` of such a draw.
  """

  def init(key, shape, dtype=jnp.float32):
    full = base(key, (full_rows, *shape[1:]), dtype)
    return full[offset : offset + shape[0]]

  return init


def chrono_bias(t_max: float) -> Initializer:
  """Chrono initialization (Tallec and Ollivier 2018) of the `[4H]` bias.

  b_f ~ log(U[1, t_max - 1]), b_i = -b_f, b_g = b_o = 0. The forget gate's
  retention sigmoid(b_f) then spans [1/2, (t_max - 1)/t_max], i.e. time scales
  1/(1 - sigmoid(b_f)) from 2 to t_max.
  """
  if not t_max > 2:
    raise ConfigError(f"chrono t_max must be > 2, got {t_max}")

  def init(key, shape, dtype=jnp.float32):
    hidden = shape[-1] // NUM_GATES
    b_f = jnp.log(jax.random.uniform(key, (hidden,), dtype, 1.0, t_max - 1.0))
    zeros = jnp.zeros((hidden,), dtype)
    return jnp.concatenate([-b_f, b_f, zeros, zeros])

  return init


# --------------------------------------------------------------------------
# Initializers by name. A spec is "name" or "name:argument", e.g.
# "scaled_identity:0.5", "constant:0.1", "normal:0.01", "chrono:100".


def _vs(scale, mode, distribution):
  return lambda arg=None: _INIT.variance_scaling(
      scale if arg is None else float(arg), mode, distribution)


_NAMED: dict[str, Callable[[Any], Initializer]] = {
    "glorot_uniform": _vs(1.0, "fan_avg", "uniform"),
    "glorot_normal": _vs(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": _vs(2.0, "fan_in", "uniform"),
    "he_normal": _vs(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": _vs(1.0, "fan_in", "uniform"),
    "lecun_normal": _vs(1.0, "fan_in", "truncated_normal"),
    "orthogonal": lambda arg=None: orthogonal(1.0 if arg is None else float(arg)),
    "orthogonal_per_gate": lambda arg=None: per_gate(
        orthogonal(1.0 if arg is None else float(arg))),
    "identity_per_gate": lambda arg=None: per_gate(
        scaled_identity(1.0 if arg is None else float(arg))),
    "scaled_identity": lambda arg=None: per_gate(
        scaled_identity(1.0 if arg is None else float(arg))),
    "zeros": lambda arg=None: _INIT.zeros,
    "ones": lambda arg=None: _INIT.ones,
    "constant": lambda arg=None: _INIT.constant(0.0 if arg is None else float(arg)),
    "normal": lambda arg=None: _INIT.normal(0.01 if arg is None else float(arg)),
    "truncated_normal": lambda arg=None: _INIT.truncated_normal(
        0.01 if arg is None else float(arg)),
    "uniform": lambda arg=None: symmetric_uniform(0.05 if arg is None else float(arg)),
    "hidden_uniform": lambda arg=None: hidden_uniform(),
    "pytorch_bias": lambda arg=None: summed_hidden_uniform(2),
    "chrono": lambda arg=None: chrono_bias(100.0 if arg is None else float(arg)),
}
# The other common spellings of the same initializers.
for _alias, _name in {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
                      "kaiming_uniform": "he_uniform", "kaiming_normal": "he_normal",
                      "identity": "identity_per_gate"}.items():
  _NAMED[_alias] = _NAMED[_name]


def initializer_names() -> list[str]:
  """The names `get_initializer` accepts (an argument may follow a colon)."""
  return sorted(_NAMED)


def get_initializer(spec: str | Initializer) -> Initializer:
  """Resolves an initializer spec.

  Args:
    spec: a callable `(key, shape, dtype) -> array`, returned unchanged, or a
      name from `initializer_names()`, optionally followed by `:argument`
      (a scale, a standard deviation, a limit, a constant or chrono's t_max).

  Returns:
    The initializer.

  Raises:
    ConfigError: for an unknown name or an argument that is not a number.
  """
  if callable(spec):
    return spec
  name, _, arg = str(spec).partition(":")
  if name not in _NAMED:
    raise unknown("initializer", spec, _NAMED)
  try:
    return _NAMED[name](arg or None)
  except ValueError as e:
    raise ConfigError(f"bad argument in initializer {spec!r}: {e}") from None


# --------------------------------------------------------------------------
# Framework presets.


@dataclasses.dataclass(frozen=True)
class Preset:
  """What a framework does for one layer, in the canonical layout.

  Attributes:
    input_kernel: initializer of `W_x: [I, 4H]`.
    recurrent_kernel: initializer of `W_h: [H, 4H]`.
    bias: initializer of `b: [4H]`.
    forget_bias: added to the f block of `b` (stored or run-time offset).
    description: one line on what the framework does.
  """

  input_kernel: str | Initializer
  recurrent_kernel: str | Initializer
  bias: str | Initializer
  forget_bias: float
  description: str


def _keras(i, h):
  return Preset("glorot_uniform", "orthogonal", "zeros", 1.0,
                "Keras LSTM: glorot_uniform on (I, 4H); orthogonal on the whole (H, 4H); "
                "zero bias with unit_forget_bias (f slice stored as 1)")


def _tf1(i, h):
  fused = _INIT.glorot_uniform()
  return Preset(rows_of(fused, i + h, 0), rows_of(fused, i + h, i), "zeros", 1.0,
                "TF1 LSTMCell: glorot_uniform on one (I+H, 4H) kernel; zero bias; "
                "forget_bias=1 added at run time")


def _pytorch(i, h):
  return Preset("hidden_uniform", "hidden_uniform", "pytorch_bias", 0.0,
                "torch.nn.LSTM: U(+-1/sqrt(H)) on every weight; b_ih + b_hh, each "
                "U(+-1/sqrt(H)), summed")


def _flax_linen(i, h):
  return Preset("lecun_normal", "orthogonal_per_gate", "zeros", 0.0,
                "flax.linen LSTMCell (and flax.nnx.LSTMCell): lecun_normal per gate "
                "(I, H); orthogonal per gate (H, H); zero bias")


def _flax_nnx(i, h):
  return Preset("lecun_normal", "orthogonal", "zeros", 0.0,
                "flax.nnx OptimizedLSTMCell: lecun_normal on (I, 4H); orthogonal on "
                "the whole (H, 4H); zero bias")


def _haiku(i, h):
  std = 1.0 / math.sqrt(i + h)
  return Preset(_INIT.truncated_normal(std), _INIT.truncated_normal(std), "zeros", 1.0,
                "hk.LSTM: truncated normal (2 sd, std parameter 1/sqrt(I+H)) on one "
                "(I+H, 4H) kernel; zero bias; +1 on f at run time")


def _equinox(i, h):
  return Preset("hidden_uniform", "hidden_uniform", "hidden_uniform", 0.0,
                "eqx.nn.LSTMCell: U(+-1/sqrt(H)) on weight_ih, weight_hh and one bias")


def _chrono(i, h):
  return Preset("glorot_uniform", "orthogonal", "chrono", 0.0,
                "chrono (Tallec & Ollivier 2018): Keras kernels; b_f ~ log U[1, "
                "t_max-1], b_i = -b_f")


def _irnn(i, h):
  return Preset("glorot_uniform", "identity_per_gate", "zeros", 0.0,
                "IRNN-style (Le et al. 2015): identity recurrent block per gate, zero "
                "bias; Keras input kernel")


PRESETS: dict[str, Callable[[int, int], Preset]] = {
    "keras": _keras, "tf1": _tf1, "pytorch": _pytorch, "flax_linen": _flax_linen,
    "flax_nnx": _flax_nnx, "haiku": _haiku, "equinox": _equinox,
    "chrono": _chrono, "irnn": _irnn,
}
FRAMEWORK_PRESETS = ("keras", "tf1", "pytorch", "flax_linen", "flax_nnx", "haiku", "equinox")
PARTS = ("input_kernel", "recurrent_kernel", "bias")
OVERRIDES = (*PARTS, "forget_bias", "t_max", "recurrent_scale")


def get_preset(name: str, input_size: int, hidden_size: int) -> Preset:
  """The preset `name` for a layer with the given sizes."""
  if name not in PRESETS:
    raise unknown("preset", name, PRESETS)
  return PRESETS[name](input_size, hidden_size)


def resolve_layer(preset: str, input_size: int, hidden_size: int,
                  overrides: Mapping[str, Any]) -> dict[str, Any]:
  """Resolves a preset plus overrides to concrete part initializers.

  Returns:
    A dict with `input_kernel`, `recurrent_kernel`, `bias` (initializers) and
    `forget_bias` (float).
  """
  bad = set(overrides) - set(OVERRIDES)
  if bad:
    raise unknown("init override", sorted(bad)[0], OVERRIDES)
  p = get_preset(preset, input_size, hidden_size)
  parts = {
      "input_kernel": overrides.get("input_kernel") or p.input_kernel,
      "recurrent_kernel": overrides.get("recurrent_kernel") or p.recurrent_kernel,
      "bias": overrides.get("bias") or p.bias,
  }
  t_max = overrides.get("t_max")
  if parts["bias"] == "chrono" and t_max is not None:
    parts["bias"] = f"chrono:{t_max}"
  resolved = {k: get_initializer(v) for k, v in parts.items()}
  scale = overrides.get("recurrent_scale")
  if scale is not None and float(scale) != 1.0:
    base = resolved["recurrent_kernel"]
    resolved["recurrent_kernel"] = lambda k, s, d=jnp.float32: float(scale) * base(k, s, d)
  fb = overrides.get("forget_bias")
  resolved["forget_bias"] = p.forget_bias if fb is None else float(fb)
  return resolved


def init_layer(key: jax.Array, input_size: int, hidden_size: int,
               parts: Mapping[str, Any], dtype=jnp.float32) -> dict[str, jax.Array]:
  """Initializes one layer from resolved parts (see `resolve_layer`).

  Args:
    key: the layer's key; part j uses `fold_in(key, j)`.
    input_size: I.
    hidden_size: H.
    parts: output of `resolve_layer`.
    dtype: parameter dtype.

  Returns:
    `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.
  """
  shapes = {"input_kernel": (input_size, NUM_GATES * hidden_size),
            "recurrent_kernel": (hidden_size, NUM_GATES * hidden_size),
            "bias": (NUM_GATES * hidden_size,)}
  out = {part: parts[part](jax.random.fold_in(key, j), shapes[part], dtype).astype(dtype)
         for j, part in enumerate(PARTS)}
  chex.assert_shape([out[p] for p in PARTS], [shapes[p] for p in PARTS])
  f_block = jnp.zeros((NUM_GATES, hidden_size), dtype).at[1].set(parts["forget_bias"])
  b = out["bias"] + f_block.reshape(-1)
  return {"W_x": out["input_kernel"], "W_h": out["recurrent_kernel"], "b": b}


def init_params(key: jax.Array, input_size: int, hidden_size: int, *,
                preset: str = "keras", num_layers: int = 1, dtype=jnp.float32,
                **overrides) -> list[dict[str, jax.Array]]:
  """Initializes an LSTM stack in the canonical layout.

  Any number of calls may share one jitted program: no draw goes through a
  LAPACK kernel (see `householder_q`).

  Args:
    key: a JAX key; layer l uses `fold_in(key, l)`.
    input_size: I, the features per step of the input.
    hidden_size: H, the width of every layer.
    preset: one of `PRESETS` (framework defaults plus `chrono`, `irnn`).
    num_layers: number of stacked layers; layer l > 0 has input size H.
    dtype: parameter dtype.
    **overrides: any of `input_kernel`, `recurrent_kernel`, `bias` (a name for
      `get_initializer` or a callable), `forget_bias` (float added to the f
      block, replacing the preset's), `t_max` (chrono), `recurrent_scale`
      (multiplies the recurrent kernel).

  Returns:
    A list of `num_layers` dicts `{"W_x": [I_l, 4H], "W_h": [H, 4H], "b": [4H]}`.
  """
  if int(num_layers) < 1:
    raise ConfigError(f"num_layers must be >= 1, got {num_layers}")
  if int(hidden_size) < 1 or int(input_size) < 1:
    raise ConfigError(f"sizes must be >= 1, got input_size={input_size}, "
                      f"hidden_size={hidden_size}")
  overrides = {k: v for k, v in overrides.items() if v is not None and v != ""}
  layers = []
  for layer in range(num_layers):
    i = input_size if layer == 0 else hidden_size
    parts = resolve_layer(preset, i, hidden_size, overrides)
    layers.append(init_layer(jax.random.fold_in(key, layer), i, hidden_size, parts, dtype))
  return layers


def describe_presets() -> dict[str, str]:
  """One line per preset describing what it does (for docs and reports)."""
  return {name: f(8, 8).description for name, f in PRESETS.items()}
