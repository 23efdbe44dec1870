"""LSTM initializers: named initializers, framework presets and `init_params`.

Usage:

  params = init_params(jax.random.key(0), input_size=8, hidden_size=64,
                       preset="pytorch", num_layers=2, forget_bias=1.0)

Every initializer here follows the JAX protocol `(key, shape, dtype) ->
array`, so it plugs into `flax.linen.Dense` and friends as well. Shapes are in
the canonical layout of `lstm_init.core.lstm`: `W_x: [I, 4H]`, `W_h: [H, 4H]`,
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
from lstm_init.core import arguments
from lstm_init.core.initializers import (GATES, NUM_GATES, Initializer, chrono_bias,
                                      get_initializer, hidden_uniform, householder_q,
                                      initializer_names, orthogonal, per_gate, rows_of,
                                      scaled_identity, summed_hidden_uniform,
                                      symmetric_uniform)

# The named initializers are re-exported: `lstm_init.core.presets` is the one
# place users look for initializers.
__all__ = ["GATES", "NUM_GATES", "FRAMEWORK_PRESETS", "Initializer", "OVERRIDES", "PARTS",
           "PRESETS", "Preset", "chrono_bias", "describe_presets", "get_initializer",
           "get_preset", "hidden_uniform", "householder_q", "init_layer", "init_params",
           "initializer_names", "orthogonal", "per_gate", "resolve_layer", "rows_of",
           "scaled_identity", "summed_hidden_uniform", "symmetric_uniform"]
_INIT = jax.nn.initializers


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


def _mup(i, h):
  """The maximal-update LSTM: this tool's extension of Tensor Programs V
  (Yang et al. 2022, microsoft/mup) to recurrent cells; mup itself has no rule
  for them. Its rules, for Adam-like optimizers, with width H and a base width
  H0 at which it coincides with the standard parametrization:

  - input weights W_x [I, 4H]: variance 1/fan_in (= 1/I), learning rate x 1;
  - recurrent weights W_h [H, 4H]: variance 1/fan_in (= 1/H), or orthogonal
    per gate (each H x H block orthogonal: entries of variance exactly 1/H;
    `recurrent_kernel="orthogonal_per_gate"`); learning rate x H0/H;
  - biases: zero, forget bias 1 (a width-independent constant); lr x 1;
  - readout W [H, O]: zero (`model.init.readout="zeros"`, mup's
    `readout_zero_init`) or standard deviation sqrt(H0)/H
    (`model.init.readout="normal:<sqrt(H0)/H>"`, variance H0/H^2: mup's
    `MuReadout` at width H); learning rate x H0/H;
  - the per-layer multipliers are `train.lr_scaling="mup"` with
    `train.base_width=H0` (`lstm_init.training.optim.lr_multiplier`);
  - the initial state: zero (`model.initial_state.strategy="zeros"`), or
    learned (`"learned"`) with learning rate x 1 (mup's rule for vector-like
    parameters, `train.state_lr_scaling="none"`) or x H0/H ("width").
  This preset sets W_x, W_h and the bias; the other rules are config fields
  (`lstm_init.studies.width.MUP_CONDITIONS` sets them together).
  """
  return Preset("lecun_normal", "lecun_normal", "zeros", 1.0,
                "maximal-update LSTM (this tool's extension of Tensor Programs V to the "
                "LSTM): lecun_normal (variance 1/fan_in) on W_x (I, 4H) and W_h (H, 4H); "
                "zero bias, forget bias 1; with train.lr_scaling=mup and a zero readout")


PRESETS: dict[str, Callable[[int, int], Preset]] = {
    "keras": _keras, "tf1": _tf1, "pytorch": _pytorch, "flax_linen": _flax_linen,
    "flax_nnx": _flax_nnx, "haiku": _haiku, "equinox": _equinox,
    "chrono": _chrono, "irnn": _irnn, "mup": _mup,
}
FRAMEWORK_PRESETS = ("keras", "tf1", "pytorch", "flax_linen", "flax_nnx", "haiku", "equinox")
PARTS = ("input_kernel", "recurrent_kernel", "bias")
OVERRIDES = (*PARTS, "forget_bias", "t_max", "recurrent_scale")


def get_preset(name: str, input_size: int, hidden_size: int) -> Preset:
  """The preset `name` for a layer with the given sizes.

  Args:
    name: one of `PRESETS`.
    input_size: I; hidden_size: H.

  Returns:
    The `Preset`.

  Raises:
    ConfigError: for an unknown name.
  """
  if name not in PRESETS:
    raise unknown("preset", name, PRESETS)
  return PRESETS[name](input_size, hidden_size)


def resolve_layer(preset: str, input_size: int, hidden_size: int,
                  overrides: Mapping[str, Any]) -> dict[str, Any]:
  """Resolves a preset plus overrides to concrete part initializers.

  Args:
    preset: one of `PRESETS`.
    input_size: I; hidden_size: H.
    overrides: any of `OVERRIDES` (see `init_params`).

  Returns:
    A dict with `input_kernel`, `recurrent_kernel`, `bias` (initializers) and
    `forget_bias` (float).

  Raises:
    ConfigError: for an unknown preset, override or initializer name; a
      forget_bias or recurrent_scale that is not a finite number; a t_max
      that is not a finite number > 2, or given where the bias is not chrono.
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
  if t_max is not None:
    if parts["bias"] != "chrono":
      bias = parts["bias"] if isinstance(parts["bias"], str) else "a callable"
      raise ConfigError(f"t_max={t_max!r} has no effect: the bias is {bias!r} (preset "
                        f"{preset!r}), not 'chrono'; valid: t_max with preset='chrono' or "
                        "bias='chrono' ('chrono:T' sets its own t_max)")
    t_max = arguments.finite("init_params", "t_max", t_max, lambda t: t > 2,
                             "a finite number > 2 (chrono's longest time scale)")
    parts["bias"] = f"chrono:{t_max}"
  resolved = {k: get_initializer(v) for k, v in parts.items()}
  scale = overrides.get("recurrent_scale")
  if scale is not None:
    scale = arguments.finite("init_params", "recurrent_scale", scale)
  if scale is not None and (arguments.is_traced(scale) or scale != 1.0):
    base = resolved["recurrent_kernel"]
    resolved["recurrent_kernel"] = lambda k, s, d=jnp.float32: scale * base(k, s, d)
  fb = overrides.get("forget_bias")
  resolved["forget_bias"] = (p.forget_bias if fb is None
                             else arguments.finite("init_params", "forget_bias", fb))
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

  Raises:
    ConfigError: (one line) for a key that is not one JAX PRNG key, a size that
      is not an int >= 1, or a bad preset or override (see `resolve_layer`).
  """
  arguments.prng_key("init_params", key)
  input_size = arguments.positive_int("init_params", "input_size", input_size)
  hidden_size = arguments.positive_int("init_params", "hidden_size", hidden_size)
  num_layers = arguments.positive_int("init_params", "num_layers", num_layers)
  overrides = {k: v for k, v in overrides.items() if v is not None and v != ""}
  layers = []
  for layer in range(num_layers):
    i = input_size if layer == 0 else hidden_size
    parts = resolve_layer(preset, i, hidden_size, overrides)
    layers.append(init_layer(jax.random.fold_in(key, layer), i, hidden_size, parts, dtype))
  return layers


def describe_presets() -> dict[str, str]:
  """One line per preset describing what it does (for docs and reports).

  Returns:
    {preset name: description}.
  """
  return {name: f(8, 8).description for name, f in PRESETS.items()}
