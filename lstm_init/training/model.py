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

from lstm_init import fields
from lstm_init.core import lstm, rnn, initial_states
from lstm_init.errors import ConfigError, unknown
from lstm_init.core.presets import PRESETS, get_initializer, get_preset, init_params
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


# ---------------------------------------------------------------------------
# The `config.model` fields, as this module and the presets read them.

def _layers(c) -> bool:
  return int(c.model.num_layers) > 1


def _chrono_bias(c) -> bool:
  bias = c.model.init.bias or ("chrono" if c.model.init.preset == "chrono" else "")
  return str(bias).partition(":")[0] == "chrono"


_STATE = "model.initial_state.strategy"
FIELDS = (
    fields.Field("hidden_size", 32, "width H of every layer"),
    fields.Field("num_layers", 1, "stacked LSTM layers"),
    fields.Field("residual", False, "skip connections between layers of equal width",
                 used_when=(_layers, "model.num_layers > 1")),
    fields.Field("residual_scale", "sqrt_half", "the skip merge: \"sqrt_half\", \"none\" or a "
                 "number", used_when=(lambda c: bool(c.model.residual) and _layers(c),
                                      "model.residual=True with model.num_layers > 1")),
    fields.Field("dropout", 0.0, "between layers (training only), in [0, 1)",
                 used_when=(_layers, "model.num_layers > 1 (it acts between layers)")),
    fields.Field("input_dropout", 0.0, "on the inputs (training only), in [0, 1)"),
    fields.Field("readout", "auto", "where the loss reads the outputs: \"auto\" (the task's) or "
                 "\"last\"", choices=READOUTS),
    fields.Field("impl", "fused", "LSTM layer: \"fused\" (custom VJP, fast) or \"scan\" "
                 "(reference)", choices=tuple(lstm.layer_impls()),
                 used_when=(lambda c: c.model.get("cell", "lstm") == "lstm",
                            "model.cell=lstm (a plain RNN cell has one implementation)")),
    fields.Field("cell", "lstm", "\"lstm\", or a plain RNN (lstm_init.core.rnn; presets "
                 f"{', '.join(rnn.PRESETS)})", choices=rnn.CELLS),
    fields.Field("init.preset", "keras", "a framework's default initialization, or another "
                 "named scheme (a plain RNN cell: its own presets)",
                 choices=tuple(dict.fromkeys([*PRESETS, *rnn.PRESETS]))),
    fields.Field("init.input_kernel", "", "override by initializer name (\"\" = the preset's)"),
    fields.Field("init.recurrent_kernel", "", "override by initializer name (\"\" = the "
                 "preset's)"),
    fields.Field("init.bias", "", "override by initializer name (\"\" = the preset's)"),
    fields.Field("init.forget_bias", None, "the forget gate's bias (None = the preset's)",
                 fields.ANY_FINITE, kind=float),
    fields.Field("init.t_max", None, "chrono's T_max (None = 100)",
                 fields.Valid(lambda v: v > 2, "> 2 (chrono's longest time scale)"), kind=float,
                 used_when=(_chrono_bias, "a chrono bias (model.init.preset=chrono or "
                            "model.init.bias=chrono)")),
    fields.Field("init.recurrent_scale", 1.0, "multiplies the recurrent kernel",
                 fields.ANY_FINITE),
    fields.Field("init.readout", "glorot_uniform", "readout weights, the same for every "
                 "preset"),
    fields.Field("initial_state.strategy", "zeros", "zeros, constant, learned, noisy, "
                 "learned_noisy, carried (= stateful training, zeros at resets)",
                 choices=initial_states.STRATEGIES),
    fields.Field("initial_state.noise_std", 0.1, "noisy strategies, training only",
                 fields.at_least(0), used_when=(
                     lambda c: c.model.initial_state.strategy in ("noisy", "learned_noisy"),
                     f"{_STATE}=noisy or learned_noisy")),
    fields.Field("initial_state.value", 0.0, "constant strategy; start of a learned state",
                 fields.ANY_FINITE, used_when=(
                     lambda c: c.model.initial_state.strategy in ("constant", "learned",
                                                                  "learned_noisy"),
                     f"{_STATE}=constant, learned or learned_noisy")),
)
