"""What the sweep engine trains: an `Experiment`, built from a config once.

An experiment is a frozen set of pure functions of one run (the PureJaxRL
`make_train(config) -> train(key)` shape, cut where the engine needs to log,
checkpoint and evaluate):

  exp = build(config)                        # config.experiment names the factory
  state = exp.init(run_keys, values)         # run_keys: {"init", "data", "dropout", "noise"}
  state, per_step = exp.train_chunk(state, exp.data, n)   # per_step["loss"]: [n]
  scores = exp.evaluate(state, exp.data, split)           # split: "curve", "val", "test"

The engine vmaps these over runs, shards them over devices, cuts training
into pieces and checkpoints the state between them; `make_train` below runs
one whole run with the same functions.

Contract:
  * `init`, `train_chunk` and `evaluate` are pure and jittable; `n` is static.
  * The state is any pytree of arrays (typed PRNG keys allowed).
  * `per_step["loss"]` is NaN from the step a run diverged on; such a run
    should stop updating (the engine records the step and reports it apart).
  * `evaluate` returns scalars "loss" (the score the summary ranks, lower is
    better unless `lower_is_better=False`) and "metric", and optionally
    "per_position" ([window]: loss at each position of a window). "curve" is
    the cheap evaluation behind the learning curves; "val" and "test" give the
    final numbers.
  * `data` is a pytree of arrays every run reads; it is an argument of the
    compiled programs, never a constant baked into them.
  * `values` are the condition's per-run numbers (floats), passed to `init`
    stacked over runs. Config fields listed in `value_fields` (or starting
    with `value_prefixes`) change only such numbers or the initial state, so
    conditions differing only in them share one compiled program.

`config.experiment` is "supervised" (the built-in LSTM on a task), "a2c"
(recurrent actor-critic on gymnax environments, `lstm_init.training.rl.a2c`) or
"module:factory", a function `factory(config) -> Experiment` of your own (see
examples/).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import jax
import jax.numpy as jnp

from lstm_init.core import keys as keys_lib
from lstm_init.errors import ConfigError

BUILT_IN = {"supervised": "lstm_init.training.supervised:make_experiment",
            "a2c": "lstm_init.training.rl.a2c:make_experiment"}
# Fields the engine reads for every experiment, beside the top-level ones
# (seed, num_seeds, design, devices, ...).
ENGINE_FIELDS = ("train.steps", "train.eval_every", "train.log_every", "train.curve_rows")


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
  """One condition's training, as pure functions of a run (see module docstring).

  Attributes:
    data: pytree of arrays shared by every run.
    init: (run_keys, values) -> state of one run.
    train_chunk: (state, data, n) -> (state, {"loss": [n], ...}).
    evaluate: (state, data, split) -> {"loss", "metric", optional "per_position"}.
    values: the condition's per-run numbers, by name.
    value_fields, value_prefixes: config fields that change only `values` or
      the initial state (not the program).
    description: one line about the task, for logs and reports.
    metric: the name of `evaluate`'s "metric" (e.g. "accuracy").
    lower_is_better: whether a lower "loss" is better.
    baseline: the loss of a model that learned nothing useful (None: unknown).
    baseline_note: how the baseline is defined.
    first_k: early positions of a window the report sets apart.
    record: what config.json records about the condition (e.g. the resolved
      initializer).
    reads: the config fields the experiment reads (a field, or a prefix
      ending in "."); None: every field (the built-in experiment, which says
      itself which fields a setting leaves unused). A given value outside
      them and `ENGINE_FIELDS` is refused, never silently ignored.
    score: what `evaluate`'s "loss" is, in words (tables and axes).
    step_unit, steps_per_update: what the learning curves' x axis counts, and
      how many of it one training step is (environment steps per update).
    failure_line: a final score below this (higher is better) or above it
      (lower is better) counts as a seed that failed to learn; None: no such line.
    target: a score that counts as solved; the summary gives how long each
      condition's runs took to reach it on their learning curves (None: none).
    perturb: (state, key, enabled) -> state with one initial parameter moved by
      one ulp where `enabled` (`lstm_init.core.perturb.flip_one_ulp` on the
      parameters); None: the experiment cannot run `design="instability"`.
  """

  data: Any
  init: Callable[..., Any]
  train_chunk: Callable[..., tuple[Any, dict[str, jax.Array]]]
  evaluate: Callable[..., dict[str, jax.Array]]
  values: dict[str, float] = dataclasses.field(default_factory=dict)
  value_fields: tuple[str, ...] = ()
  value_prefixes: tuple[str, ...] = ()
  description: str = ""
  metric: str = "metric"
  lower_is_better: bool = True
  baseline: float | None = None
  baseline_note: str = ""
  first_k: int = 1
  record: dict[str, Any] = dataclasses.field(default_factory=dict)
  reads: tuple[str, ...] | None = None
  score: str = "final validation loss"
  step_unit: str = "training step"
  steps_per_update: int = 1
  failure_line: float | None = None
  target: float | None = None
  perturb: Callable[..., Any] | None = None


def unread_reason(exp: Experiment, path: str) -> str | None:
  """Why `exp` ignores config field `path`, or None when something reads it."""
  if exp.reads is None or "." not in path or path in ENGINE_FIELDS:
    return None
  if any(path == r or (r.endswith(".") and path.startswith(r)) for r in exp.reads):
    return None
  return f"this experiment does not read it (it reads: {', '.join(exp.reads)})"


def factory_of(name: str) -> Callable[[Any], Experiment]:
  """The factory that `config.experiment` names; a one-line error otherwise."""
  spec = BUILT_IN.get(name, name)
  module, sep, attr = spec.partition(":")
  if not sep or not module or not attr:
    raise ConfigError(f"unknown experiment {name!r}; valid choices: "
                      f"{', '.join(BUILT_IN)}, or 'module:factory'")
  try:
    fn = getattr(importlib.import_module(module), attr)
  except (ImportError, AttributeError) as e:
    raise ConfigError(f"cannot load experiment {name!r}: {e}; valid choices: "
                      f"{', '.join(BUILT_IN)}, or an importable 'module:factory'") from None
  return fn


def build(config) -> Experiment:
  """The experiment of one condition's config."""
  exp = factory_of(str(config.get("experiment", "supervised")))(config)
  if not isinstance(exp, Experiment):
    raise ConfigError(f"experiment {config.experiment!r} returned {type(exp).__name__}, "
                      "not an lstm_init.training.experiment.Experiment")
  return exp


def stacked_values(exp: Experiment, n: int) -> dict[str, jax.Array]:
  """`exp.values` repeated for n runs (the `values` argument of a vmapped init)."""
  return {k: jnp.full((n,), v, jnp.float32) for k, v in exp.values.items()}


def make_train(config_or_exp, steps: int | None = None):
  """A pure `train(seed_key) -> results` of one whole run, for `jax.vmap`.

  Takes a config (its experiment, `train.steps` steps) or an `Experiment`
  (with `steps`). The streams are `fold_in(seed_key, stream_id)` as in `lstm_init.core.keys`, so
  `train(fold_in(root_key(seed), i))` is seed i of a sweep (without fixed
  streams), trained by the same functions as the sweep.
  """
  exp = config_or_exp
  if not isinstance(exp, Experiment):
    exp, steps = build(config_or_exp), steps or int(config_or_exp.train.steps)
  values = {k: jnp.asarray(v, jnp.float32) for k, v in exp.values.items()}

  def train(seed_key):
    state = exp.init(keys_lib.streams_of(seed_key), values)
    state, per_step = exp.train_chunk(state, exp.data, steps)
    return {"train_loss": per_step["loss"], "eval": exp.evaluate(state, exp.data, "val"),
            "diverged": jnp.isnan(per_step["loss"]).any()}

  return train
