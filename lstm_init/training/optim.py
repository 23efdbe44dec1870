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
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lstm_init.errors import unknown

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
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

  @classmethod
  def of(cls, tcfg) -> "OptimizerSpec":
    """The spec of a config's `train` (one line if the optimizer or schedule is unknown)."""
    if tcfg.optimizer not in OPTIMIZERS:
      raise unknown("optimizer", tcfg.optimizer, OPTIMIZERS)
    if tcfg.schedule not in SCHEDULES:
      raise unknown("schedule", tcfg.schedule, SCHEDULES)
    return cls(tcfg.optimizer, tcfg.schedule, int(tcfg.steps), int(tcfg.decay_steps),
               float(tcfg.decay_rate), int(tcfg.warmup_steps),
               tuple(config_hyperparams(tcfg).items()))


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
    return optax.chain(clip_by_global_norm(clip_norm), *direction,
                       optax.scale_by_schedule(sched),
                       optax.scale_by_learning_rate(learning_rate))

  if hyperparams is None:
    hyperparams = dict(spec.hyperparams)
  return optax.inject_hyperparams(chain)(**hyperparams)


def config_hyperparams(tcfg) -> dict[str, float]:
  """The optimizer numbers of a config, keyed as `HYPERPARAMS`."""
  return {name: float(tcfg[path.split(".")[1]]) for name, path in HYPERPARAMS.items()}
