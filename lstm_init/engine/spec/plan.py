"""The plan of a sweep: every decision made before anything trains or is written.

  plan = plan_sweep(config, sweep=["model.init.preset=keras,pytorch"], given={})
  plan.settings        # how it runs: devices, seed group rule, memory, checkpoints
  plan.conditions      # each: name, overrides, seeds (SeedSpec), schedule
  plan.groups          # condition groups: the conditions that share one program
  plan.identity        # what a checkpoint must have been written by to resume here

Conditions are the cartesian product of the sweep axes (`path=v1,v2,...`,
`lstm_init.engine.spec.axes`), each checked against the schema and built
into its experiment. Conditions that differ only in values (initial
parameters, learning rate, noise std: the experiment's `value_fields`) form
one condition group: their runs are stacked and trained by one compiled
program. Groups that change the program (task, sizes, optimizer, strategy)
run one after the other.

The config is read here, once, into frozen specs (`Settings`, `SeedSpec`,
`Schedule`); the engine below planning reads those, never the ConfigDict.
A condition keeps its config for the records (config.json) and its
experiment.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from typing import Any, Callable, Mapping, Sequence

import ml_collections
import numpy as np

from lstm_init import dotted
from lstm_init.core import initializers, keys as keys_lib
from lstm_init.engine.runtime import numerics
from lstm_init.engine.spec import axes as axes_lib
from lstm_init.engine.spec.schedule import Schedule, schedule_of
from lstm_init.engine.spec.schema import RESUMABLE_FIELDS, check_config, unused_reason
from lstm_init.engine.spec.seeds import SeedSpec, seed_layout
from lstm_init.errors import ConfigError
from lstm_init.training.experiment import Experiment, build, unread_reason


@dataclasses.dataclass(frozen=True)
class Settings:
  """The sweep-wide settings, read once from the config: where and how it runs
  (devices, memory, checkpoints, writers: `RESUMABLE_FIELDS`), and what decides
  the arithmetic of every run (the seed, the seed group rule, the precision)."""

  name: str                        # the sweep's label
  seed: int                        # the experiment seed (the summary's bootstrap key too)
  devices: int                     # devices the runs are sharded over (0 = all)
  seed_group: int                  # runs vmapped together (-1: the backend's rule)
  seed_group_timing: bool          # time the candidate sizes (only with -1)
  memory_budget_gb: float | None   # per device (None: a safe share)
  max_chunk_seeds: int             # runs per chunk at most (0: as many as fit)
  checkpoint_every_s: float        # seconds between checkpoints (0: every piece)
  writers: tuple[str, ...]         # metric writers by name (`persist.writers.WRITERS`)
  report: bool                     # write the report at the end
  precision: str                   # float32 matmul precision (`runtime.numerics.PRECISIONS`)

  @classmethod
  def of(cls, config) -> "Settings":
    """The settings of a sweep's config."""
    budget = config.memory_budget_gb
    return cls(str(config.name), int(config.seed), int(config.devices), int(config.seed_group),
               bool(config.seed_group_timing), None if budget is None else float(budget),
               int(config.max_chunk_seeds), float(config.checkpoint_every_s),
               tuple(n.strip() for n in str(config.writers).split(",") if n.strip()),
               bool(config.report), numerics.precision_of(config))


@dataclasses.dataclass(frozen=True, eq=False)
class Condition:
  """One condition of a sweep: a point of the cartesian product of its axes."""

  name: str                          # its axis values, e.g. "preset=keras"
  overrides: dict[str, Any]          # {dotted path: value} of the axes
  config: ml_collections.ConfigDict  # the whole config with the overrides set (records)
  seeds: SeedSpec                    # its runs' seeds and keys
  schedule: Schedule                 # when its runs validate and the loop takes over
  curve_rows: int                    # validation rows of its learning curves (0 = all)

  @classmethod
  def of(cls, axis: axes_lib.Axis) -> "Condition":
    """The condition of one combination of axis values (its config checked)."""
    c = axis.config
    return cls(axis.name, axis.overrides, c, SeedSpec.of(c), schedule_of(c),
               int(c.train.curve_rows))


def apply_scale(config, given: Mapping[str, Any] | None = None) -> ml_collections.ConfigDict:
  """A config with the values of its `scale` set, and no `scales` table left.

  A config may carry `scale` (a name) and `scales` (a name -> nested values
  table, e.g. `{"cpu": {...}, "paper": {"task": {"delay": 500}}}`); the values
  of `scales[scale]` are set, except where the command line gave a value
  (`given`), which is used as given. The result records `scale` and the values
  that ran, so planning it again (a reproduction) changes nothing.

  Args:
    config: the config, with or without `scale` and `scales`.
    given: the `--config.<path>` values from the command line, by path.
  Returns:
    The config with the scale applied (`config` itself without `scales`).
  Raises:
    ConfigError: for an unknown scale, or a scale value naming no config field.
  """
  if "scales" not in config:
    return config
  scales = config.scales.to_dict()
  name = config.get("scale")
  if name not in scales:
    raise ConfigError(f"unknown scale {name!r}; valid choices: {', '.join(scales)}")
  out = copy.deepcopy(config)
  with out.unlocked():
    del out["scales"]
  for path, value in dotted.flatten(scales[name]).items():
    if path not in (given or {}):
      parent, field = dotted.field(out, path)
      parent[field] = value
  return out


def structure_key(config, exp: Experiment) -> str:
  """What decides the compiled program: the config without value fields.

  Args:
    config: a condition's config.
    exp: its experiment (`value_fields`, `value_prefixes`).
  Returns:
    The remaining fields as sorted JSON.
  """
  flat = dotted.flatten(config.to_dict())
  keep = {k: v for k, v in flat.items()
          if k not in exp.value_fields and not k.startswith(exp.value_prefixes or ("\0",))
          and k not in ("seed", "num_seeds", "name", "sweep", "report")}
  return json.dumps(keep, sort_keys=True, default=str)


def group_conditions(conditions: Sequence[Condition],
                     experiments: Sequence[Experiment]) -> dict[str, list[int]]:
  """Indices of conditions grouped by `structure_key`, in first-seen order.

  Args:
    conditions: the sweep's conditions.
    experiments: their experiments, in the same order.
  Returns:
    {structure key: the condition group's condition indices}.
  """
  groups: dict[str, list[int]] = {}
  for i, (c, exp) in enumerate(zip(conditions, experiments)):
    groups.setdefault(structure_key(c.config, exp), []).append(i)
  return groups


def unused_by(condition: Condition, exp: Experiment, path: str) -> str | None:
  """Why a condition's run does not use config field `path` (None: it does).

  Args:
    condition: the condition.
    exp: its experiment.
    path: a dotted config field.
  Returns:
    The reason in words, or None.
  """
  return unread_reason(exp, path) or unused_reason(condition.config, path)


INITIALIZER_FIELDS = ("model.init.input_kernel", "model.init.recurrent_kernel",
                      "model.init.bias", "model.init.readout")


def _canonical(path: str, value: Any) -> Any:
  """An initializer override in its one spelling (two spellings of one
  initializer are one condition); any other value as it is."""
  if path in INITIALIZER_FIELDS and isinstance(value, str) and value:
    return initializers.canonical_spec(value)
  return value


def distinct(conditions: Sequence[Condition], experiments: Sequence[Experiment],
             named: Sequence[str] = ()) -> tuple[list[int], dict[str, str]]:
  """The conditions that differ in what acts on their runs, each named by the
  values that act on it.

  A swept value that a condition does not read (`unused_by`: the noise of a
  zero initial state, the momentum of Adam) cannot make it another condition:
  combinations that differ only in such values are one condition, trained once.

  Args:
    conditions: the product of the axes, in order.
    experiments: their experiments.
    named: fields whose values go first in every name (replaced default axes).

  Returns:
    ([(index, the condition renamed by what acts on it)] of the distinct ones,
    in order; {requested name: the name of the condition it is a copy of}).
  """
  keep, seen, collapsed = [], {}, {}
  for i, (c, exp) in enumerate(zip(conditions, experiments)):
    acting = {p: v for p, v in c.overrides.items() if unused_by(c, exp, p) is None}
    key = json.dumps({p: _canonical(p, v) for p, v in acting.items()}, sort_keys=True,
                     default=str)
    name = ",".join([f"{dotted.short(p)}={dotted.get(c.config, p)}" for p in named]
                    + [f"{dotted.short(p)}={v}" for p, v in acting.items()]) or c.name
    if key in seen:
      collapsed[c.name] = seen[key]
      continue
    seen[key] = name
    if acting != c.overrides:
      collapsed[c.name] = name
    keep.append((i, dataclasses.replace(c, name=name, overrides=acting)))
  return keep, {k: v for k, v in collapsed.items() if k != v}


def refuse_unused(conditions: Sequence[Condition], experiments: Sequence[Experiment],
                  given: Mapping[str, Any], axes: Sequence[str]) -> None:
  """Refuses a given value or a swept field that no condition uses.

  Args:
    conditions: the sweep's conditions.
    experiments: their experiments, in the same order.
    given: the `--config.<path>` values, by path.
    axes: the sweep axes that run.

  Raises:
    ConfigError: naming the field, the value and when it is used.
  """
  asked = [(p, f"--config.{p}={v}") for p, v in given.items() if p != "sweep"]
  asked += [(a.partition("=")[0].strip(), f"--sweep={a}") for a in axes]
  for path, how in asked:
    reasons = [unused_by(c, e, path) for c, e in zip(conditions, experiments)]
    if all(r is not None for r in reasons):
      raise ConfigError(f"{how} would have no effect: {reasons[0]}")


@dataclasses.dataclass
class SweepPlan:
  """Everything decided before anything is trained or written."""

  config: ml_collections.ConfigDict  # the base config, scale applied (records)
  settings: Settings                 # how it runs
  conditions: list[Condition]        # every condition, in sweep order
  groups: list[list[int]]            # condition groups: indices sharing one program
  layouts: list[dict[str, np.ndarray]]  # per condition: its `seed_layout`
  experiments: list[Experiment]      # per condition: its built experiment
  group_keys: list[str]              # per condition group: its `structure_key`
  axes: list[str] = dataclasses.field(default_factory=list)   # the axes that ran
  notes: list[str] = dataclasses.field(default_factory=list)  # default axes replaced
  # requested combinations that are copies of a condition: {requested name: condition name}
  collapsed: dict[str, str] = dataclasses.field(default_factory=dict)

  @property
  def identity(self) -> dict[str, Any]:
    """What a checkpoint must have been written by to be resumed here: the
    conditions, their seeds and steps, the groups, and a digest of the config.

    Returns:
      {"conditions", "seeds", "steps", "groups", "config"}: names, seed counts
      and total steps per condition, the groups' condition indices, and 16 hex
      digits of the SHA-256 of the config without `RESUMABLE_FIELDS`.
    """
    config = {k: v for k, v in dotted.flatten(self.config.to_dict()).items()
              if k not in RESUMABLE_FIELDS}
    return {"conditions": [c.name for c in self.conditions],
            "seeds": [int(len(lay["seed"])) for lay in self.layouts],
            "steps": [int(c.schedule.total) for c in self.conditions],
            "groups": [[int(ci) for ci in g] for g in self.groups],
            "config": hashlib.sha256(json.dumps(config, sort_keys=True, default=str)
                                     .encode()).hexdigest()[:16]}

  def runs(self) -> int:
    """Runs of the whole sweep (conditions x their seeds)."""
    return sum(len(lay["seed"]) for lay in self.layouts)

  def seed_steps(self) -> int:
    """Runs x training steps of the whole sweep."""
    return sum(len(lay["seed"]) * c.schedule.total
               for lay, c in zip(self.layouts, self.conditions))

  def select(self, keep: Callable[[str, np.ndarray], np.ndarray]) -> "SweepPlan":
    """The plan of some of its runs: `keep(condition name, [seeds] seed column)`
    marks them; conditions and groups left without a run are dropped.

    Args:
      keep: (name, the condition's seed column) -> [seeds] bool mask.

    Returns:
      A new `SweepPlan` (its groups renumbered over the kept conditions).
    """
    layouts = [{k: v[keep(c.name, lay["seed"])] for k, v in lay.items()}
               for c, lay in zip(self.conditions, self.layouts)]
    kept = [i for i, lay in enumerate(layouts) if len(lay["seed"])]
    index = {ci: k for k, ci in enumerate(kept)}
    groups = [[index[ci] for ci in g if ci in index] for g in self.groups]
    alive = [g for g, members in enumerate(groups) if members]
    return SweepPlan(self.config, self.settings, [self.conditions[i] for i in kept],
                     [groups[g] for g in alive], [layouts[i] for i in kept],
                     [self.experiments[i] for i in kept], [self.group_keys[g] for g in alive],
                     self.axes, self.notes, self.collapsed)


def plan_sweep(config, sweep: Sequence[str] | None = None,
               given: Mapping[str, Any] | None = None) -> SweepPlan:
  """Validates the config and every condition; raises ConfigError on bad input.

  Args:
    config: the experiment config.
    sweep: `--sweep` axes; None or empty: the config's own `sweep`.
    given: `--config.<path>` values given on the command line (see
      `axes.resolve_axes` for how they meet the default sweep).

  Returns:
    The `SweepPlan`.

  Raises:
    ConfigError: for a bad config, axis, scale, design or unused value.
  """
  keys_lib.check_prng_impl()
  axes_lib.check_axes(sweep)
  for spec in sweep or ():
    if spec.partition("=")[0].strip() in ("scale", "scales"):
      raise ConfigError(f"--sweep={spec}: a scale sets many fields at once and cannot be "
                        "swept; valid: run each scale with --config.scale=<name>")
    if spec.partition("=")[0].strip() == "precision":
      raise ConfigError(f"--sweep={spec}: the matmul precision holds for a whole sweep; "
                        "valid: run each with --config.precision=<name>")
  config = apply_scale(config, given)
  keys_lib.parse_streams(config.fixed_streams)
  axes, notes = axes_lib.resolve_axes(config, sweep, given)
  replaced = [p for p in (given or {}) if any(a.partition("=")[0].strip() == p
                                              for a in config.sweep)] if not sweep else []
  combos = axes_lib.expand_conditions(config, axes, replaced)
  for combo in combos:
    check_config(combo.config)
  conditions = [Condition.of(c) for c in combos]
  experiments = [build(c.config) for c in conditions]
  for c, exp in zip(conditions, experiments):
    if c.seeds.design == "instability" and exp.perturb is None:
      raise ConfigError(f"design=instability needs an experiment that can flip one initial "
                        f"parameter (Experiment.perturb); {c.config.experiment!r} has none; "
                        "valid choices: supervised, a2c, or a factory that sets perturb")
  refuse_unused(conditions, experiments, given or {}, axes)
  keep, collapsed = distinct(conditions, experiments, replaced)
  conditions, experiments = [c for _, c in keep], [experiments[i] for i, _ in keep]
  layouts = [seed_layout(c.seeds) for c in conditions]
  groups = group_conditions(conditions, experiments)
  return SweepPlan(config, Settings.of(config), conditions, list(groups.values()), layouts,
                   experiments, list(groups), axes, notes, collapsed)
