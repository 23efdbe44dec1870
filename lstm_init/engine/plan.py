"""The plan of a sweep: conditions, groups, validation.

  plan = plan_sweep(config, sweep=["model.init.preset=keras,pytorch"], given={})

Nothing here trains or writes. Conditions are the cartesian product of the sweep axes (`path=v1,v2,...`).
Conditions that differ only in values (initial parameters, learning rate,
noise std: the experiment's `value_fields`) share one program: their runs are stacked on
one axis and trained by one jitted, vmapped chunk function. Conditions that
change the program (task, sizes, optimizer, strategy, stateful) form groups
that run one after the other. Each condition's seed layout and its runs' keys
are `lstm_init.engine.seeds`.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np

from lstm_init.core import keys as keys_lib
from lstm_init.engine.config import check_config, unused_reason
from lstm_init.engine.seeds import seed_layout
from lstm_init.errors import ConfigError
from lstm_init.training.experiment import Experiment, build, unread_reason


# ---------------------------------------------------------------------------
# Conditions.


@dataclasses.dataclass
class Condition:
  """One condition of a sweep: a point of the cartesian product of its axes."""

  name: str                          # its axis values, e.g. "preset=keras"
  overrides: dict[str, Any]          # {dotted path: value} of the axes
  config: ml_collections.ConfigDict  # the whole config with the overrides set


def _field(config, path: str):
  """(parent ConfigDict, field name) of a dotted path, or a one-line error."""
  parts = path.split(".")
  node = config
  for i, p in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or p not in node:
      where = ".".join(parts[:i]) or "the config"
      choices = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      raise ConfigError(f"unknown config field {path!r}; valid fields under {where}: "
                        f"{', '.join(choices)}")
    if i < len(parts) - 1:
      node = node[p]
  return node, parts[-1]


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
  for path, value in flatten(scales[name]).items():
    if path not in (given or {}):
      parent, field = _field(out, path)
      parent[field] = value
  return out


def set_from_text(config, path: str, text: str):
  """Sets `--config.<path>=<text>` into `config` as the command line does;
  returns the typed value (one line for an unknown field or a bad value).

  Args:
    config: the config, changed in place.
    path: a dotted field, e.g. "model.hidden_size".
    text: the value as given on the command line.
  Returns:
    The value, typed as the field.
  Raises:
    ConfigError: for an unknown field or a value of the wrong type.
  """
  value = _coerce(config, path, text, where="")
  parent, name = _field(config, path)
  parent[name] = value
  return value


def _coerce(config, path: str, text: str, where: str = " in --sweep"):
  parent, name = _field(config, path)
  kind = parent.get_type(name)
  text = text.strip()
  try:
    if kind is bool:
      if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError
      return text.lower() in ("true", "1")
    if kind is int:
      return int(text)
    if kind is float:
      return float(text)
    if kind in (tuple, list):
      return tuple(v for v in text.split(";") if v)
  except ValueError:
    raise ConfigError(f"bad value {text!r} for {path}{where}; expected "
                      f"{kind.__name__}") from None
  return text


def parse_sweep(spec: str, config) -> tuple[str, list[Any]]:
  """Parses `path=v1,v2,...` into (path, typed values).

  Args:
    spec: the axis, e.g. "model.init.preset=keras,pytorch".
    config: the config whose field types apply.
  Returns:
    (dotted path, [values] typed as the field).
  Raises:
    ConfigError: for a malformed spec, an empty or repeated value, a bad field.
  """
  path, eq, values = spec.partition("=")
  path = path.strip()
  if not eq or not path or not values.strip():
    raise ConfigError(f"malformed --sweep {spec!r}; expected <config path>=<v1>,<v2>,... "
                      "e.g. model.init.preset=keras,pytorch")
  items = values.split(",")
  empty = [i + 1 for i, v in enumerate(items) if not v.strip()]
  if empty:
    raise ConfigError(f"malformed --sweep {spec!r}: value {empty[0]} of {len(items)} is empty; "
                      "expected <config path>=<v1>,<v2>,... with every value given")
  typed = [_coerce(config, path, v) for v in items]
  for i, v in enumerate(typed):
    if v in typed[:i]:
      raise ConfigError(f"--sweep {spec!r} gives the value {items[i].strip()!r} twice; each "
                        "value of an axis is one condition: give it once")
  return path, typed


def _short(path: str) -> str:
  return path.split(".")[-1]


def expand_conditions(config, sweep: Sequence[str],
                      named: Sequence[str] = ()) -> list[Condition]:
  """The cartesian product of the sweep axes, each a resolved config.

  A condition is named by its axis values, after the fields in `named` (the
  fields a user fixed in place of a default axis).

  Args:
    config: the base config.
    sweep: the axes, each `path=v1,v2,...`.
    named: dotted paths whose values go first in every condition's name.
  Returns:
    One `Condition` per combination (one, named `config.name`, without axes).
  Raises:
    ConfigError: for a bad axis or a field given in two axes.
  """
  axes = [parse_sweep(s, config) for s in sweep]
  paths = [p for p, _ in axes]
  if len(set(paths)) != len(paths):
    raise ConfigError(f"a config field appears twice in --sweep: {paths}")
  out = []
  for combo in itertools.product(*[v for _, v in axes]):
    cfg = copy.deepcopy(config)
    overrides = dict(zip(paths, combo))
    for path, value in overrides.items():
      parent, name = _field(cfg, path)
      with parent.ignore_type():
        parent[name] = value
    fixed = [f"{_short(p)}={_field(cfg, p)[0][_short(p)]}" for p in named]
    name = ",".join(fixed + [f"{_short(p)}={v}" for p, v in overrides.items()]) or config.name
    out.append(Condition(name, overrides, cfg))
  return out


def structure_key(config, exp: Experiment) -> str:
  """What decides the compiled program: the config without value fields.

  Args:
    config: a condition's config.
    exp: its experiment (`value_fields`, `value_prefixes`).
  Returns:
    The remaining fields as sorted JSON.
  """
  flat = flatten(config.to_dict())
  keep = {k: v for k, v in flat.items()
          if k not in exp.value_fields and not k.startswith(exp.value_prefixes or ("\0",))
          and k not in ("seed", "num_seeds", "name", "sweep", "report")}
  return json.dumps(keep, sort_keys=True, default=str)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  """A nested dict as {"a.b.c": value}.

  Args:
    d: the nested dict.
    prefix: put before every path.
  Returns:
    The flat dict.
  """
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def group_conditions(conditions: list[Condition],
                     experiments: list[Experiment]) -> list[list[int]]:
  """Indices of conditions grouped by `structure_key`, in first-seen order.

  Args:
    conditions: the sweep's conditions.
    experiments: their experiments, in the same order.
  Returns:
    A list of groups, each a list of condition indices.
  """
  groups: dict[str, list[int]] = {}
  for i, (c, exp) in enumerate(zip(conditions, experiments)):
    groups.setdefault(structure_key(c.config, exp), []).append(i)
  return list(groups.values())


# ---------------------------------------------------------------------------
# The plan.


def resolve_axes(config, sweep: Sequence[str] | None,
                 given: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
  """The sweep axes that run, and a line for each default axis a user replaced.

  The rule, the same for every field and config: `--sweep` axes replace the
  config's default `sweep` as a whole; a value given with `--config.<path>=v`
  for a field that the default `sweep` varies replaces that axis (the run
  uses v); a field given both with `--config.<path>` and in `--sweep` is
  refused, since one of the two would be ignored.

  Args:
    config: the experiment config.
    sweep: the `--sweep` axes (empty or None: the config's own `sweep`).
    given: the `--config.<path>` values from the command line, by path.

  Returns:
    (axes: the `path=v1,...` specs that run, notes: one line per default axis
    replaced by a given value).

  Raises:
    ConfigError: for a field given both in `given` and in `sweep`.
  """
  given = dict(given or {})
  given.pop("sweep", None)  # --config.sweep=... is the default sweep itself
  if sweep:
    for spec in sweep:
      path = spec.partition("=")[0].strip()
      if path in given:
        raise ConfigError(
            f"{path} is given twice, as --config.{path}={given[path]} and as "
            f"--sweep={spec}; give one value with --config.{path}=<v> or several with "
            f"--sweep={path}=<v1>,<v2>")
    return list(sweep), []
  axes, notes = [], []
  for spec in config.sweep:
    path = spec.partition("=")[0].strip()
    if path in given:
      notes.append(f"{path}={given[path]} given: the default sweep over {path} is replaced")
    else:
      axes.append(spec)
  return axes, notes


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

  config: ml_collections.ConfigDict  # the base config, scale applied
  conditions: list[Condition]        # every condition, in sweep order
  groups: list[list[int]]            # condition indices sharing one program
  layouts: list[dict[str, np.ndarray]]  # per condition: its `seed_layout`
  experiments: list[Experiment]      # per condition: its built experiment
  axes: list[str] = dataclasses.field(default_factory=list)   # the axes that ran
  notes: list[str] = dataclasses.field(default_factory=list)  # default axes replaced


def plan_sweep(config, sweep: Sequence[str] | None = None,
               given: Mapping[str, Any] | None = None) -> SweepPlan:
  """Validates the config and every condition; raises ConfigError on bad input.

  Args:
    config: the experiment config.
    sweep: `--sweep` axes; None or empty: the config's own `sweep`.
    given: `--config.<path>` values given on the command line (see
      `resolve_axes` for how they meet the default sweep).

  Returns:
    The `SweepPlan`.

  Raises:
    ConfigError: for a bad config, axis, scale, design or unused value.
  """
  keys_lib.check_prng_impl()
  for spec in sweep or ():
    if spec.partition("=")[0].strip() in ("scale", "scales"):
      raise ConfigError(f"--sweep={spec}: a scale sets many fields at once and cannot be "
                        "swept; valid: run each scale with --config.scale=<name>")
  config = apply_scale(config, given)
  keys_lib.parse_streams(config.fixed_streams)
  axes, notes = resolve_axes(config, sweep, given)
  replaced = [p for p in (given or {}) if any(a.partition("=")[0].strip() == p
                                              for a in config.sweep)] if not sweep else []
  conditions = expand_conditions(config, axes, replaced)
  for c in conditions:
    check_config(c.config)
  experiments = [build(c.config) for c in conditions]
  for c, exp in zip(conditions, experiments):
    if c.config.design == "instability" and exp.perturb is None:
      raise ConfigError(f"design=instability needs an experiment that can flip one initial "
                        f"parameter (Experiment.perturb); {c.config.experiment!r} has none; "
                        "valid choices: supervised, a2c, or a factory that sets perturb")
  refuse_unused(conditions, experiments, given or {}, axes)
  layouts = [seed_layout(c.config) for c in conditions]
  groups = group_conditions(conditions, experiments)
  return SweepPlan(config, conditions, groups, layouts, experiments, axes, notes)
