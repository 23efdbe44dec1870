"""A plain (Elman) RNN cell, tanh or ReLU, for the classic baselines.

Usage:

  params = rnn.init_params(key, input_size=2, hidden_size=100, preset="irnn")
  ys, carry = lstm.apply(params, xs, impl="rnn_relu")   # the LSTM stack's machinery

One layer is `{"W_x": [I, H], "W_h": [H, H], "b": [H]}` and one step is

  h' = act(x W_x + h W_h + b),    act = tanh or relu

(`torch.nn.RNN` with `bias_ih + bias_hh` summed into `b`). The cell runs
through `lstm.apply` as a layer implementation, so stacks, residual merges,
dropout, initial-state strategies and stateful training work unchanged. Its
carry keeps the LSTM's `(h, c)` shape: `c` is always zero and unused.

Presets (the recurrent-network initializations of the literature):
  pytorch      torch.nn.RNN: U(+-1/sqrt(H)) on every weight; b_ih + b_hh summed.
  keras        Keras SimpleRNN: glorot_uniform input kernel, orthogonal
               recurrent kernel, zero bias.
  irnn         Le, Jaitly and Hinton 2015: identity recurrent matrix, zero bias,
               input weights N(0, 0.001^2) (std 0.001).
  orthogonal   Henaff, Szlam and LeCun 2016: random orthogonal recurrent
               matrix, zero bias, glorot_uniform input kernel.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError, unknown
from lstm_init.core import arguments
from lstm_init.core.initializers import (get_initializer, orthogonal, scaled_identity,
                                      symmetric_uniform)
from lstm_init.core.lstm import register_layer

CELLS = ("lstm", "rnn_tanh", "rnn_relu")
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"rnn_tanh": jnp.tanh,
                                                             "rnn_relu": jax.nn.relu}
PARTS = ("input_kernel", "recurrent_kernel", "bias")
OVERRIDES = (*PARTS, "recurrent_scale")


def _uniform_sum(limit: float, count: int):
  def init(key, shape, dtype=jnp.float32):
    return symmetric_uniform(limit)(key, (count, *shape), dtype).sum(axis=0)
  return init


def _presets(hidden: int) -> dict[str, tuple[Any, Any, Any, str]]:
  limit = 1.0 / math.sqrt(hidden)
  return {
      "pytorch": (symmetric_uniform(limit), symmetric_uniform(limit), _uniform_sum(limit, 2),
                  "torch.nn.RNN: U(+-1/sqrt(H)) on weight_ih and weight_hh; b_ih + b_hh, "
                  "each U(+-1/sqrt(H)), summed"),
      "keras": ("glorot_uniform", orthogonal(1.0), "zeros",
                "Keras SimpleRNN: glorot_uniform on (I, H); orthogonal (H, H); zero bias"),
      "irnn": ("normal:0.001", scaled_identity(1.0), "zeros",
               "IRNN (Le, Jaitly and Hinton 2015): identity recurrent matrix, zero bias, "
               "input weights N(0, 0.001^2)"),
      "orthogonal": ("glorot_uniform", orthogonal(1.0), "zeros",
                     "orthogonal RNN (Henaff, Szlam and LeCun 2016): random orthogonal "
                     "recurrent matrix, zero bias, glorot_uniform input kernel"),
  }


PRESETS = tuple(_presets(1))


def check_preset(preset: str) -> None:
  """Raises a one-line `ConfigError` for a preset the RNN cell does not have.

  Args:
    preset: the preset name.

  Raises:
    ConfigError: `preset` is not in `PRESETS`.
  """
  if preset not in PRESETS:
    raise unknown("RNN preset (model.cell=rnn_*)", preset, PRESETS)


def describe_presets() -> dict[str, str]:
  """One line per RNN preset.

  Returns:
    {preset name: description}.
  """
  return {name: p[3] for name, p in _presets(8).items()}


def resolve_layer(preset: str, hidden_size: int,
                  overrides: Mapping[str, Any]) -> dict[str, Any]:
  """A preset plus overrides as concrete initializers of `PARTS` (and the scale).

  Args:
    preset: one of `PRESETS`.
    hidden_size: H.
    overrides: any of `OVERRIDES` (initializer names for the parts; a factor on
      the recurrent kernel). LSTM-only overrides (forget_bias, t_max) are refused.

  Returns:
    {part: initializer} for the three parts.

  Raises:
    ConfigError: for an unknown preset, override or initializer name, or a
      recurrent_scale that is not a finite number.
  """
  check_preset(preset)
  bad = sorted(set(overrides) - set(OVERRIDES))
  if bad:
    raise ConfigError(f"model.init.{bad[0]} is an LSTM setting; the RNN cell takes: "
                      f"{', '.join(OVERRIDES)}")
  p = _presets(hidden_size)[preset]
  parts = {name: get_initializer(overrides.get(name) or p[j]) for j, name in enumerate(PARTS)}
  scale = arguments.finite("rnn.init_params", "recurrent_scale",
                           overrides.get("recurrent_scale", 1.0))
  if arguments.is_traced(scale) or scale != 1.0:
    base = parts["recurrent_kernel"]
    parts["recurrent_kernel"] = lambda k, s, d=jnp.float32: scale * base(k, s, d)
  return parts


def init_params(key: jax.Array, input_size: int, hidden_size: int, *, preset: str = "pytorch",
                num_layers: int = 1, dtype=jnp.float32, **overrides) -> list[dict]:
  """Initializes an RNN stack.

  Args:
    key: a JAX key; layer l uses `fold_in(key, l)`, part j of it `fold_in(., j)`.
    input_size: I.
    hidden_size: H.
    preset: one of `PRESETS`.
    num_layers: stacked layers; layer l > 0 has input size H.
    dtype: parameter dtype.
    **overrides: see `resolve_layer` (None and "" mean the preset's).

  Returns:
    A list of `{"W_x": [I_l, H], "W_h": [H, H], "b": [H]}`.

  Raises:
    ConfigError: (one line) for a key that is not one JAX PRNG key, a size that
      is not an int >= 1, or a bad preset or override.
  """
  arguments.prng_key("rnn.init_params", key)
  input_size = arguments.positive_int("rnn.init_params", "input_size", input_size)
  hidden_size = arguments.positive_int("rnn.init_params", "hidden_size", hidden_size)
  num_layers = arguments.positive_int("rnn.init_params", "num_layers", num_layers)
  overrides = {k: v for k, v in overrides.items() if v is not None and v != ""}
  parts = resolve_layer(preset, hidden_size, overrides)
  layers = []
  for layer in range(num_layers):
    i = input_size if layer == 0 else hidden_size
    k = jax.random.fold_in(key, layer)
    shapes = {"input_kernel": (i, hidden_size), "recurrent_kernel": (hidden_size, hidden_size),
              "bias": (hidden_size,)}
    out = {part: parts[part](jax.random.fold_in(k, j), shapes[part], dtype).astype(dtype)
           for j, part in enumerate(PARTS)}
    layers.append({"W_x": out["input_kernel"], "W_h": out["recurrent_kernel"],
                   "b": out["bias"]})
  return layers


def _layer(activation):
  def layer(p, xs, h0, c0):
    """One RNN layer over xs [time, batch, I] from h0 [batch, H]: (hs, cs), cs zero."""
    x_proj = xs @ p["W_x"] + p["b"]  # [T, B, H], one matmul for every step

    def step(h, xp):
      h = activation(xp + h @ p["W_h"])
      return h, h

    _, hs = jax.lax.scan(step, h0, x_proj)
    del c0  # the cell has no memory cell
    return hs, jnp.zeros_like(hs)
  return layer


def check_cell(cell: str) -> None:
  """Raises a one-line `ConfigError` for an unknown `model.cell`.

  Args:
    cell: the cell name.

  Raises:
    ConfigError: `cell` is not in `CELLS`.
  """
  if cell not in CELLS:
    raise unknown("model.cell", cell, CELLS)


for _name, _act in ACTIVATIONS.items():
  register_layer(_name, _layer(_act), cell=_name)
