"""The model of a sweep: an LSTM stack, a linear readout, initial-state params.

  spec = ModelSpec.of(config.model)               # read once, outside any trace
  params = init_model(key, task, spec)
  outputs, carry = forward(params, xs, carry, spec, ...)

`params` is `{"lstm": [layer dicts], "readout": {"W": [H, O], "b": [O]},
"state": [initial-state params]}`. The readout is applied at every step (a
`[H, O]` matmul, cheap); which positions count is the loss mask's business.
The readout's initializer is the same for every preset, so conditions differ
in the LSTM only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from lstm_init.core import lstm, rnn, initial_states
from lstm_init.errors import ConfigError, unknown
from lstm_init.core.presets import get_initializer, get_preset, init_params
from lstm_init.training.tasks import Task

READOUTS = ("auto", "last")


def init_overrides(init_cfg) -> dict:
  """The `init_params` overrides set in `config.model.init`."""
  out = {k: init_cfg[k] for k in ("input_kernel", "recurrent_kernel", "bias", "forget_bias",
                                  "t_max", "recurrent_scale")}
  # t_max acts on a chrono bias only: a sweep's other conditions leave it out
  # (`init_params` refuses a t_max that would have no effect).
  if str(out["bias"] or init_cfg.preset).partition(":")[0] != "chrono":
    out["t_max"] = None
  return {k: v for k, v in out.items() if v not in (None, "")}


def resolved_init(config, input_size: int) -> dict:
  """What a config's LSTM is initialized with: each part's initializer (the
  override, or the preset's), the forget offset and the preset's description."""
  icfg = config.model.init
  cell = config.model.get("cell", "lstm")
  if cell != "lstm":
    given = init_overrides(icfg)
    out = {"cell": cell, "preset": icfg.preset,
           "description": rnn.describe_presets()[icfg.preset]}
    for name in rnn.PARTS:
      out[name] = given.get(name) or f"{icfg.preset}'s own (see description)"
    out["recurrent_scale"] = float(given.get("recurrent_scale", 1.0))
    return out
  preset = get_preset(icfg.preset, input_size, int(config.model.hidden_size))
  given = init_overrides(icfg)
  out = {"preset": icfg.preset, "description": preset.description}
  for name in ("input_kernel", "recurrent_kernel", "bias"):
    spec = given.get(name) or getattr(preset, name)
    out[name] = spec if isinstance(spec, str) else f"{icfg.preset}'s own (see description)"
  out["forget_bias"] = float(given.get("forget_bias", preset.forget_bias))
  out["recurrent_scale"] = float(given.get("recurrent_scale", 1.0))
  if out["bias"] == "chrono":
    out["t_max"] = float(given.get("t_max", 100.0))
  return out


def check_model_config(mcfg) -> None:
  """One-line errors for impossible model settings."""
  if int(mcfg.hidden_size) < 1:
    raise ConfigError(f"model.hidden_size must be >= 1, got {mcfg.hidden_size}")
  if int(mcfg.num_layers) < 1:
    raise ConfigError(f"model.num_layers must be >= 1, got {mcfg.num_layers}")
  for name in ("dropout", "input_dropout"):
    if not 0.0 <= float(mcfg[name]) < 1.0:
      raise ConfigError(f"model.{name} must be in [0, 1), got {mcfg[name]}")
  if mcfg.readout not in READOUTS:
    raise unknown("readout", mcfg.readout, READOUTS)
  cell = mcfg.get("cell", "lstm")
  rnn.check_cell(cell)
  if cell == "lstm":
    if mcfg.impl not in lstm.layer_impls():
      raise unknown("LSTM implementation", mcfg.impl, lstm.layer_impls())
  else:
    rnn.resolve_layer(mcfg.init.preset, int(mcfg.hidden_size), init_overrides(mcfg.init))
  initial_states.check_strategy(mcfg.initial_state.strategy)
  lstm.residual_factor(mcfg.residual_scale)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything `init_model` and `forward` read of `config.model`, read once
  outside any trace (so nothing reads a ConfigDict while tracing)."""

  hidden_size: int
  num_layers: int
  residual: bool
  residual_scale: str | float
  dropout: float
  input_dropout: float
  impl: str
  cell: str = "lstm"
  preset: str = "keras"
  init_overrides: tuple[tuple[str, Any], ...] = ()  # `init_overrides(config.model.init)`
  readout_init: str = "glorot_uniform"
  strategy: str = "zeros"                            # the initial-state strategy

  @classmethod
  def of(cls, mcfg) -> "ModelSpec":
    """The spec of a config's `model`."""
    return cls(int(mcfg.hidden_size), int(mcfg.num_layers), bool(mcfg.residual),
               mcfg.residual_scale, float(mcfg.dropout), float(mcfg.input_dropout), mcfg.impl,
               mcfg.get("cell", "lstm"), mcfg.init.preset,
               tuple(sorted(init_overrides(mcfg.init).items())), mcfg.init.readout,
               mcfg.initial_state.strategy)

  @property
  def layer_impl(self) -> str:
    """The `lstm.apply` implementation: `impl` for the LSTM, the cell's own otherwise."""
    return self.impl if self.cell == "lstm" else self.cell


def init_model(key: jax.Array, task: Task, spec: ModelSpec, state_value=0.0) -> dict:
  """Initializes the model's parameters for one run.

  Args:
    key: the run's "init" key.
    task: sizes of inputs and outputs.
    spec: the model (`ModelSpec.of(config.model)`).
    state_value: added to every initial-state parameter (strategy "constant"'s value).

  Returns:
    {"lstm": [layer dicts], "readout": {"W": [H, O], "b": [O]}, "state": [...]}.
  """
  if not isinstance(spec, ModelSpec):
    raise TypeError(f"init_model takes a ModelSpec (ModelSpec.of(config.model)), got "
                    f"{type(spec).__name__}")
  k_lstm, k_out = jax.random.split(key)
  init = init_params if spec.cell == "lstm" else rnn.init_params
  layers = init(k_lstm, task.input_size, spec.hidden_size, preset=spec.preset,
                num_layers=spec.num_layers, **dict(spec.init_overrides))
  w = get_initializer(spec.readout_init)(k_out, (spec.hidden_size, task.output_size),
                                         jnp.float32)
  state = initial_states.init_state_params(spec.strategy, spec.num_layers, spec.hidden_size)
  # (strategy "carried" has no parameters: stateful carry from zeros at resets)
  state = jax.tree.map(lambda a: a + state_value, state)
  return {"lstm": layers, "readout": {"W": w, "b": jnp.zeros((task.output_size,))},
          "state": state}


def forward(params: dict, xs: jax.Array, carry, spec: ModelSpec, *,
            key: jax.Array | None = None, training: bool = False,
            carry_at: jax.Array | None = None):
  """The model on a batch of windows.

  Args:
    params: `init_model`'s parameters.
    xs: [batch, time, I] inputs.
    carry: the initial carry per layer (None: zeros).
    spec: the model (`ModelSpec.of(config.model)`).
    key: dropout key (training only).
    training: whether dropout is on.
    carry_at: [batch] optional step whose carry is returned instead of the last.

  Returns:
    (outputs [batch, time, O], the final carry).
  """
  if not isinstance(spec, ModelSpec):
    raise TypeError(f"forward takes a ModelSpec (ModelSpec.of(config.model)), got "
                    f"{type(spec).__name__}")
  m = spec
  ys, final = lstm.apply(params["lstm"], xs, carry, carry_at=carry_at,
                         residual=m.residual, residual_scale=m.residual_scale,
                         dropout=m.dropout, input_dropout=m.input_dropout,
                         deterministic=not training, key=key, impl=m.layer_impl)
  out = ys @ params["readout"]["W"] + params["readout"]["b"]
  return out, final


def position_losses(task: Task, outputs: jax.Array, ys: jax.Array):
  """Loss and correctness at every position: ([batch, time], [batch, time])."""
  if task.loss == "mse":
    err = jnp.sum((outputs - ys) ** 2, axis=-1)
    return err, jnp.zeros_like(err)
  logp = jax.nn.log_softmax(outputs, axis=-1)
  nll = -jnp.take_along_axis(logp, ys[..., None], axis=-1)[..., 0]
  correct = (jnp.argmax(outputs, axis=-1) == ys).astype(jnp.float32)
  return nll, correct
