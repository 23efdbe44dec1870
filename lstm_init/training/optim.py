"""The optimizer of a run: one optax chain whose numbers are per-run values.

  spec = OptimizerSpec.of(config.train)              # read once, outside any trace
  tx = optimizer(spec)                               # the config's own numbers
  opt_state = optimizer(spec, hyper).init(params)    # hyper: a run's (possibly traced) numbers
  updates, opt_state = tx.update(grads, opt_state, params)

The chain is `optax.inject_hyperparams` over clip -> (weight decay) ->
direction -> schedule -> learning rate, so the learning rate, weight decay,
clip norm and momentum are numbers in the optimizer state, not constants of
the program: runs that differ only in them train in one vmapped program.

Weight decay follows each framework's optimizer of that name: `adam`, `sgd`
and `rmsprop` add `weight_decay * p` to the gradient before the direction (L2,
as `torch.optim.Adam(weight_decay=...)`), `adamw` decays the parameters after
it, scaled by the learning rate (decoupled, Loshchilov & Hutter 2019, as
`torch.optim.AdamW`).

Per-layer learning rates (`train.lr_scaling`): "none" gives every parameter
the one learning rate; "mup" multiplies each parameter's update by its
maximal-update multiplier (`lr_multiplier`), microsoft/mup's `MuAdam` rule
for Adam-like optimizers carried over to the LSTM's parameters.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lstm_init import fields
from lstm_init.errors import ConfigError, unknown

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LR_SCALINGS = ("none", "mup")        # train.lr_scaling
STATE_LR_SCALINGS = ("none", "width")  # train.state_lr_scaling (with lr_scaling=mup)
SCHEDULES = ("constant", "exponential", "cosine")
# The optimizer's per-run numbers and the config fields they come from.
HYPERPARAMS = {"learning_rate": "train.learning_rate", "weight_decay": "train.weight_decay",
               "clip_norm": "train.clip_norm", "momentum": "train.momentum"}


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
  """The optimizer's structure and default numbers, read once from `config.train`."""

  name: str                    # one of OPTIMIZERS
  schedule: str                # one of SCHEDULES
  steps: int
  decay_steps: int
  decay_rate: float
  warmup_steps: int
  hyperparams: tuple[tuple[str, float], ...]  # the config's HYPERPARAMS values
  lr_scaling: str = "none"     # one of LR_SCALINGS: per-layer multipliers (`lr_multiplier`)
  base_width: int = 32         # lr_scaling=mup: the width at which every multiplier is 1
  state_lr_scaling: str = "none"  # lr_scaling=mup: the learned initial state's multiplier

  @classmethod
  def of(cls, tcfg) -> "OptimizerSpec":
    """The spec of a config's `train` (one line if the optimizer or schedule is unknown)."""
    if tcfg.optimizer not in OPTIMIZERS:
      raise unknown("optimizer", tcfg.optimizer, OPTIMIZERS)
    if tcfg.schedule not in SCHEDULES:
      raise unknown("schedule", tcfg.schedule, SCHEDULES)
    scaling = tcfg.get("lr_scaling", "none")
    state_scaling = tcfg.get("state_lr_scaling", "none")
    base_width = int(tcfg.get("base_width", 32))
    if scaling not in LR_SCALINGS:
      raise unknown("train.lr_scaling", scaling, LR_SCALINGS)
    if state_scaling not in STATE_LR_SCALINGS:
      raise unknown("train.state_lr_scaling", state_scaling, STATE_LR_SCALINGS)
    if scaling == "mup" and tcfg.optimizer == "sgd":
      raise ConfigError("train.lr_scaling=mup is the Adam rule (hidden and readout weights at "
                        "lr x base_width / width); valid optimizers with it: adam, adamw, "
                        "rmsprop, or train.lr_scaling=none with sgd")
    if base_width < 1:
      raise ConfigError(f"bad value {base_width} for train.base_width; valid: >= 1")
    return cls(tcfg.optimizer, tcfg.schedule, int(tcfg.steps), int(tcfg.decay_steps),
               float(tcfg.decay_rate), int(tcfg.warmup_steps),
               tuple(config_hyperparams(tcfg).items()), scaling, base_width, state_scaling)


def schedule(spec: OptimizerSpec) -> optax.Schedule:
  """The learning-rate multiplier over steps (1.0 at the start of decay)."""
  name, steps = spec.schedule, spec.steps
  if name == "constant":
    sched = optax.constant_schedule(1.0)
  elif name == "exponential":
    sched = optax.exponential_decay(1.0, spec.decay_steps, spec.decay_rate)
  elif name == "cosine":
    sched = optax.cosine_decay_schedule(1.0, max(1, steps - spec.warmup_steps))
  else:
    raise unknown("schedule", name, SCHEDULES)
  warm = spec.warmup_steps
  if warm > 0:
    sched = optax.join_schedules([optax.linear_schedule(0.0, 1.0, warm), sched], [warm])
  return sched


def clip_by_global_norm(max_norm) -> optax.GradientTransformation:
  """`optax.clip_by_global_norm`, off where `max_norm` is 0 (a traced value)."""
  inner = optax.clip_by_global_norm(max_norm)

  def update(grads, state, params=None):
    clipped, state = inner.update(grads, state, params)
    return jax.tree.map(lambda c, g: jnp.where(max_norm > 0, c, g), clipped, grads), state

  return optax.GradientTransformation(inner.init, update)


def optimizer(spec: OptimizerSpec, hyperparams: dict | None = None
              ) -> optax.GradientTransformation:
  """The run's chain with `hyperparams` injected.

  Args:
    spec: the optimizer (`OptimizerSpec.of(config.train)`).
    hyperparams: HYPERPARAMS' numbers (default: the spec's); they may be
      traced per-run arrays: `update` reads them back from the optimizer state,
      so any instance of the chain updates any run's state.

  Returns:
    The optax chain.
  """
  if not isinstance(spec, OptimizerSpec):
    raise TypeError(f"optimizer takes an OptimizerSpec (OptimizerSpec.of(config.train)), got "
                    f"{type(spec).__name__}")
  name = spec.name
  sched = schedule(spec)

  def chain(learning_rate, weight_decay, clip_norm, momentum):
    if name == "adamw":
      direction = [optax.scale_by_adam(), optax.add_decayed_weights(weight_decay)]
    else:
      step = {"adam": optax.scale_by_adam, "rmsprop": optax.scale_by_rms,
              "sgd": lambda: optax.trace(decay=momentum)}[name]()
      direction = [optax.add_decayed_weights(weight_decay), step]
    per_layer = [] if spec.lr_scaling == "none" else [scale_by_lr_multipliers(spec)]
    return optax.chain(clip_by_global_norm(clip_norm), *direction,
                       optax.scale_by_schedule(sched),
                       optax.scale_by_learning_rate(learning_rate), *per_layer)

  if hyperparams is None:
    hyperparams = dict(spec.hyperparams)
  return optax.inject_hyperparams(chain)(**hyperparams)


def config_hyperparams(tcfg) -> dict[str, float]:
  """The optimizer numbers of a config, keyed as `HYPERPARAMS`."""
  return {name: float(tcfg[path.split(".")[1]]) for name, path in HYPERPARAMS.items()}


def _names(path) -> list:
  """A tree path as plain names and indices: ("lstm", 0, "W_h")."""
  return [getattr(k, "key", getattr(k, "idx", getattr(k, "name", None))) for k in path]


def lr_multiplier(path, shape: tuple[int, ...], spec: OptimizerSpec) -> float:
  """One parameter's learning-rate multiplier under `spec.lr_scaling`.

  The "mup" rule is microsoft/mup's `MuAdam` (Adam-like optimizers): a
  matrix whose two dimensions both grow with the width ("hidden": `W_h`, and
  `W_x` of layers above the first) learns at lr x base_width / fan_in; the
  readout `W` ([H, O], its fan_in the width) likewise, which is what mup's
  `MuReadout` (an output multiplier 1 / width_mult) amounts to under Adam;
  vector-like parameters (the first layer's `W_x`, biases) keep the lr. The
  learned initial state (`state`: h0, c0, [H]) is vector-like, so mup's rule
  keeps its lr (`state_lr_scaling="none"`); "width" gives it base_width / H,
  the alternative measured in docs/findings/width.md (mup has no rule for it).

  Args:
    path: the parameter's tree path in `model.init_model`'s parameters.
    shape: its shape (as one run sees it).
    spec: the optimizer (`lr_scaling`, `base_width`, `state_lr_scaling`).

  Returns:
    The multiplier (1.0 under lr_scaling="none").
  """
  if spec.lr_scaling == "none":
    return 1.0
  names = _names(path)
  last = names[-1] if names else None
  base = float(spec.base_width)
  if names[:1] == ["lstm"] and (last == "W_h" or (last == "W_x" and names[1] != 0)):
    return base / shape[0]
  if names[:1] == ["readout"] and last == "W":
    return base / shape[0]
  if names[:1] == ["state"] and spec.state_lr_scaling == "width":
    return base / shape[-1]
  return 1.0


def scale_by_lr_multipliers(spec: OptimizerSpec) -> optax.GradientTransformation:
  """Multiplies each parameter's update by `lr_multiplier` (stateless; the
  multipliers are constants of the parameter tree's names and shapes).

  Args:
    spec: the optimizer.

  Returns:
    The transformation, the last of the chain: it scales the whole update,
    decoupled weight decay included (mup's `decoupled_wd=True`).
  """

  def update(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(
        lambda path, u: u * lr_multiplier(path, u.shape, spec), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


# ---------------------------------------------------------------------------
# The `config.train` fields of the optimizer.

_EXPONENTIAL = (lambda c: c.train.schedule == "exponential", "train.schedule=exponential")
_MUP = (lambda c: c.train.lr_scaling == "mup", "train.lr_scaling=mup")
FIELDS = (
    fields.Field("optimizer", "adam", "the update rule", choices=OPTIMIZERS),
    fields.Field("learning_rate", 3e-3, "the peak learning rate", fields.above(0)),
    fields.Field("momentum", 0.9, "sgd's momentum", fields.in_range(0, 1),
                 used_when=(lambda c: c.train.optimizer == "sgd", "train.optimizer=sgd")),
    fields.Field("weight_decay", 0.0, "L2 (adam, sgd, rmsprop) or decoupled (adamw)",
                 fields.at_least(0)),
    fields.Field("schedule", "constant", "the learning rate over steps", choices=SCHEDULES),
    fields.Field("decay_rate", 0.5, "exponential: factor per decay_steps", fields.above(0),
                 used_when=_EXPONENTIAL),
    fields.Field("decay_steps", 1000, "exponential: steps per decay_rate", fields.at_least(1),
                 used_when=_EXPONENTIAL),
    fields.Field("warmup_steps", 0, "linear warm-up from 0", fields.at_least(0)),
    fields.Field("clip_norm", 1.0, "global gradient norm clip (0 = off)",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = off)")),
    fields.Field("lr_scaling", "none", "per-layer learning rates: \"none\" (one lr) or \"mup\" "
                 "(Adam-like optimizers: W_h, deeper W_x and the readout W at lr x base_width / "
                 "H; lr_multiplier)", choices=LR_SCALINGS),
    fields.Field("base_width", 32, "lr_scaling=mup: the width H0 at which every multiplier "
                 "is 1", fields.at_least(1), used_when=_MUP),
    fields.Field("state_lr_scaling", "none", "lr_scaling=mup, learned initial state: \"none\" "
                 "(lr x 1, mup's vector-like rule) or \"width\" (lr x base_width / H)",
                 choices=STATE_LR_SCALINGS, used_when=_MUP),
)
