"""The plan of a sweep: conditions, groups, seed layout, keys, validation.

  plan = plan_sweep(config, sweep=["model.init.preset=keras,pytorch"], given={})

Nothing here trains or writes. Conditions are the cartesian product of the sweep axes (`path=v1,v2,...`).
Conditions that differ only in values (initial parameters, learning rate,
noise std: the experiment's `value_fields`) share one program: their runs are stacked on
one axis and trained by one jitted, vmapped chunk function. Conditions that
change the program (task, sizes, optimizer, strategy, stateful) form groups
that run one after the other.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from typing import Any, Mapping, Sequence

import jax
import ml_collections
import numpy as np

from lstm_init.core import keys as keys_lib
from lstm_init.engine.config import check_config, unused_reason
from lstm_init.errors import ConfigError
from lstm_init.training.experiment import Experiment, build, unread_reason

DESIGNS = ("seeds", "crossed", "instability")


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
    config: the config; given: the `--config.<path>` values, by path.
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
  returns the typed value (one line for an unknown field or a bad value)."""
  value = _coerce(config, path, text)
  parent, name = _field(config, path)
  parent[name] = value
  return value


def _coerce(config, path: str, text: str):
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
    raise ConfigError(f"bad value {text!r} for {path} in --sweep; expected "
                      f"{kind.__name__}") from None
  return text


def parse_sweep(spec: str, config) -> tuple[str, list[Any]]:
  """Parses `path=v1,v2,...` into (path, typed values)."""
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
  """What decides the compiled program: the config without value fields."""
  flat = flatten(config.to_dict())
  keep = {k: v for k, v in flat.items()
          if k not in exp.value_fields and not k.startswith(exp.value_prefixes or ("\0",))
          and k not in ("seed", "num_seeds", "name", "sweep", "report")}
  return json.dumps(keep, sort_keys=True, default=str)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  """A nested dict as {"a.b.c": value}."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def group_conditions(conditions: list[Condition],
                     experiments: list[Experiment]) -> list[list[int]]:
  """Indices of conditions grouped by `structure_key`, in first-seen order."""
  groups: dict[str, list[int]] = {}
  for i, (c, exp) in enumerate(zip(conditions, experiments)):
    groups.setdefault(structure_key(c.config, exp), []).append(i)
  return list(groups.values())


# ---------------------------------------------------------------------------
# Seeds.


def seed_layout(config) -> dict[str, np.ndarray]:
  """Per-run seed indices of one condition: {"seed", "init_seed", "data_seed"}.

  With `design="seeds"` run i uses seed i for every stream. With
  `design="crossed"` run i * M + j uses init seed `init_seed_offset + i` for
  the `init` stream and data seed `data_seed_offset + j` for `data`,
  `dropout` and `noise`: an N x M grid of initializations and data orders. In
  both designs a stream's key depends only on its own seed index, so init seed
  i here is the same initialization as seed i of a plain sweep.

  With `design="instability"` run b * P + j (P = `num_seeds`) takes every
  stream from base seed `base_seed_offset + b` (b < `num_base_seeds`), and
  perturbation j > 0 flips one bit of one initial parameter
  (`lstm_init.core.perturb`); j = 0 is the base run itself. The layout then has a
  "perturbation" entry.

  Args:
    config: one condition's config.
  Returns:
    {"seed", "init_seed", "data_seed"[, "perturbation"]}, each [runs] ints.
  Raises:
    ConfigError: for an unknown design or seed counts below their minimum.
  """
  if config.design not in DESIGNS:
    raise ConfigError(f"unknown design {config.design!r}; valid choices: {', '.join(DESIGNS)}")
  if config.design == "crossed":
    n_i, n_j = int(config.num_init_seeds), int(config.num_data_seeds)
    if n_i < 1 or n_j < 1:
      raise ConfigError(f"num_init_seeds and num_data_seeds must be >= 1, got {n_i}, {n_j}")
    seed = np.arange(n_i * n_j)
    return {"seed": seed, "init_seed": int(config.init_seed_offset) + seed // n_j,
            "data_seed": int(config.data_seed_offset) + seed % n_j}
  n = int(config.num_seeds)
  if n < 1:
    raise ConfigError(f"num_seeds must be >= 1, got {n}")
  if config.design == "instability":
    n_b, offset = int(config.num_base_seeds), int(config.base_seed_offset)
    if n_b < 1 or n < 2 or offset < 0:
      raise ConfigError(f"design=instability needs num_base_seeds >= 1, num_seeds >= 2 (run 0 "
                        f"is the base, runs 1.. its one-bit perturbations) and "
                        f"base_seed_offset >= 0, got {n_b}, {n}, {offset}")
    seed = np.arange(n_b * n)
    base = offset + seed // n
    return {"seed": seed, "init_seed": base, "data_seed": base, "perturbation": seed % n}
  seed = np.arange(n)
  return {"seed": seed, "init_seed": seed, "data_seed": seed}


def condition_keys(config, layout: dict[str, np.ndarray], rows: np.ndarray):
  """Stream keys of the runs `rows` of a condition's seed layout."""
  root = keys_lib.root_key(config.seed)
  fixed = keys_lib.parse_streams(config.fixed_streams)
  stream_index = None
  if config.design == "instability":  # every stream from the base seed
    stream_index = {name: layout["init_seed"][rows] for name in keys_lib.STREAMS}
  if config.design == "crossed":
    # init follows the init seed; data order, dropout and noise the data seed.
    stream_index = {"init": layout["init_seed"][rows], "data": layout["data_seed"][rows],
                    "dropout": layout["data_seed"][rows], "noise": layout["data_seed"][rows]}
  return keys_lib.run_keys(root, layout["seed"][rows], fixed, stream_index=stream_index)


def perturbation_keys(config, layout: dict[str, np.ndarray], rows: np.ndarray):
  """(keys, enabled) of the runs `rows` of an instability layout: the key that picks
  each run's flipped element and whether it flips one (perturbation > 0)."""
  root = keys_lib.root_key(config.seed)
  base, j = layout["init_seed"][rows], layout["perturbation"][rows]
  keys = jax.vmap(lambda b, p: keys_lib.perturb_key(root, b, p))(base, j)
  return keys, j > 0


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
    (axes, notes).

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
  """Why a condition's run does not use config field `path` (None: it does)."""
  return unread_reason(exp, path) or unused_reason(condition.config, path)


def refuse_unused(conditions: Sequence[Condition], experiments: Sequence[Experiment],
                  given: Mapping[str, Any], axes: Sequence[str]) -> None:
  """Refuses a given value or a swept field that no condition uses.

  Args:
    conditions, experiments: the sweep's, in the same order.
    given: the `--config.<path>` values; axes: the axes that run.

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
