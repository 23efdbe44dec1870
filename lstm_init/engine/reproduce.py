"""Re-training runs of a finished sweep from its records, compared bit for bit.

  report = reproduce(workdir, seeds=[0, 17], conditions=["preset=keras"])
  report.identical        # every re-trained number equals the recorded one

A workdir records everything that decides a run's bits: the config and each
condition's values (`config.json`), the seed group sizes and the environment
(`environment.json`). The runs asked for are planned again from those
records alone, with the same conditions, seed layout (streams, fixed streams,
crossed indices) and seed group sizes, and trained by the same loop, so a run
computes exactly as it did among all the others: one seed of a 4096-seed
sweep costs one seed's training. Its final numbers (every result column of
`results.csv`, written exactly) and its whole curves (every step's training
loss, every validation) are then compared with the records.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any, Callable, Sequence

import ml_collections
import numpy as np

from lstm_init import dotted, records
from lstm_init.engine.execute.hooks import ProgressLines
from lstm_init.engine.execute.loop import Loop
from lstm_init.engine.persist import outputs
from lstm_init.engine.persist.record import recorded_config
from lstm_init.engine.persist.workdir import Workdir
from lstm_init.engine.runtime import numerics
from lstm_init.engine.spec.plan import SweepPlan, plan_sweep
from lstm_init.engine.spec.schema import base_config
from lstm_init.errors import ConfigError
from lstm_init.report import workdir_files as files
from lstm_init.report.results import RESULT_COLUMNS

# results.csv columns that hold a run's numbers (the rest name it).
NUMBER_COLUMNS = tuple(c for c in RESULT_COLUMNS
                       if c not in ("condition", "seed", "init_seed", "data_seed"))
CURVES = ("train_loss_every_step", "eval_loss", "eval_metric")


@dataclasses.dataclass(frozen=True)
class RunCheck:
  """One re-trained run against its record."""

  condition: str               # the condition's name
  seed: int                    # results.csv's seed column
  recorded: dict[str, str]     # results.csv's text of each number
  recomputed: dict[str, str]   # the same, written the same way
  curves_equal: dict[str, bool]  # per curve in CURVES: bit-equal
  curve_points: int            # values compared in the curves

  @property
  def differing(self) -> list[str]:
    """The result columns and curves whose bits differ."""
    return ([c for c in NUMBER_COLUMNS if self.recorded[c] != self.recomputed[c]]
            + [c for c, same in self.curves_equal.items() if not same])

  @property
  def identical(self) -> bool:
    """Whether every number and curve is bit-equal to its record."""
    return not self.differing


@dataclasses.dataclass(frozen=True)
class Reproduction:
  """Every re-trained run's check, and what in the environment differs."""

  workdir: str                         # the sweep re-trained
  runs: list[RunCheck]                 # one per re-trained run
  seed_groups: list[int]               # the recorded sizes used, per group
  environment_differences: list[str]   # "name: recorded -> here"

  @property
  def identical(self) -> bool:
    """Whether every re-trained run is identical to its record."""
    return all(r.identical for r in self.runs)


def read_records(workdir: str) -> tuple[dict, dict, list[dict[str, str]]]:
  """(config.json, environment.json, results.csv rows as text) of a finished
  sweep; a one-line error naming what is missing.

  Args:
    workdir: a finished sweep's folder.

  Returns:
    (config record, environment record, results.csv rows as {column: text}).

  Raises:
    ConfigError: when the folder, a record, the final outputs, or the recorded
      seed groups, conditions or groups are missing; when a file is empty or
      damaged; or when config.json and the results name different sweeps.
  """
  if not os.path.isdir(workdir):
    raise ConfigError(f"--workdir {workdir!r} is not a folder")
  needed = {"config.json": "the config that ran",
            "environment.json": "what decided the bits",
            "results.csv": "every run's final numbers",
            "curves.npz": "every run's learning curves"}
  missing = [f"{name} ({what})" for name, what in needed.items()
             if not os.path.isfile(os.path.join(workdir, name))]
  if missing:
    raise ConfigError(f"{workdir!r} cannot be re-trained: it has no {'; no '.join(missing)}; "
                      "results.csv and curves.npz are written when a sweep ends: finish it "
                      "(run its command again) first")
  record = files.read_json(workdir, "config.json", needed["config.json"])
  env = files.read_json(workdir, "environment.json", needed["environment.json"])
  files.check_same_sweep(workdir, record, files.read_json(workdir, "summary.json", "", {}))
  rows = files.read_rows(workdir)
  files.curve_names(workdir)  # its index: a truncated file fails now, not after training
  if "seed_group_rule" not in env or not isinstance(env.get("seed_groups"), list):
    raise ConfigError(f"{workdir!r} cannot be re-trained: its environment.json does not "
                      "record the seed group sizes that decided its bits (seed_groups, "
                      "seed_group_rule: written by lstm_init since runs became "
                      "reproducible); run the sweep again to get a workdir that can be")
  if "conditions" not in record or "groups" not in record:
    raise ConfigError(f"{workdir!r} cannot be re-trained: its config.json does not list the "
                      "conditions and groups that ran")
  return record, env, rows


def _overlay(node: ml_collections.ConfigDict, values: dict[str, Any]) -> None:
  """Sets the recorded `values` into `node` (fields the record lacks keep their
  defaults; sections the schema lacks, such as `rl`, come whole)."""
  for key, value in values.items():
    if isinstance(value, dict) and key in node and isinstance(node[key],
                                                                 ml_collections.ConfigDict):
      _overlay(node[key], value)
    else:
      with node.ignore_type():
        node[key] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value


def plan_from_record(record: dict[str, Any], env: dict[str, Any],
                     select: Callable[[str, np.ndarray], np.ndarray]
                     ) -> tuple[SweepPlan, list[int]]:
  """The recorded sweep planned again by `plan_sweep`, keeping the runs
  `select(name, seeds)` marks (a boolean mask over a condition's seed column),
  and the recorded seed group size of each condition group that keeps a run.

  Args:
    record: config.json's record.
    env: environment.json's record (its `seed_groups`).
    select: (condition name, [seeds] seed column) -> [seeds] bool mask.

  Returns:
    (the plan of the kept runs, with this machine's devices and budgets; the
    seed group size of each of its condition groups).

  Raises:
    ConfigError: if the records no longer plan into the conditions and groups
      that ran.
  """
  recorded = recorded_config(record)  # a swept field records its list of values
  config = base_config()
  with config.unlocked():
    _overlay(config, recorded)
    # Fields that decide where and how fast runs go, not their bits: this machine's.
    for path, value in (("devices", 0), ("max_chunk_seeds", 0), ("memory_budget_gb", None),
                        ("checkpoint_every_s", 1e9)):
      dotted.assign(config, path, value)
  plan = plan_sweep(config, list(record["config"].get("sweep", [])) or None)
  overrides = [c["overrides"] for c in record["conditions"]]
  if [c.overrides for c in plan.conditions] != overrides or plan.groups != record["groups"]:
    raise ConfigError(f"the records plan into conditions {[c.name for c in plan.conditions]} "
                      f"and groups {plan.groups}, but {[c['name'] for c in record['conditions']]}"
                      f" and {record['groups']} ran; this checkout plans the config differently "
                      "from the one that wrote the workdir")
  names = [c["name"] for c in record["conditions"]]  # as recorded (a replaced axis names them)
  plan.conditions = [dataclasses.replace(c, name=n) for c, n in zip(plan.conditions, names)]
  sizes = list(env["seed_groups"])
  kept_groups = [g for g, members in enumerate(plan.groups)
                 if any(select(names[ci], plan.layouts[ci]["seed"]).any() for ci in members)]
  return plan.select(select), [int(sizes[g]) for g in kept_groups]


def environment_differences(recorded: dict[str, Any], here: dict[str, Any]) -> list[str]:
  """The bit-deciding fields (`records.BIT_FIELDS`) that differ, as lines.

  Args:
    recorded: the environment.json record.
    here: `records.environment()` of this process.

  Returns:
    One "name: recorded, here" line per differing field.
  """
  a, b = records.bit_fields(recorded), records.bit_fields(here)
  return [f"{k}: {a[k]!r} recorded, {b[k]!r} here" for k in a if a[k] != b[k]]


def planned_runs(workdir: str, seeds: Sequence[int] | None = None,
                 conditions: Sequence[str] | None = None):
  """The records of `workdir` and the plan of the runs asked for.

  Returns:
    (config record, environment record, results.csv rows as text, the plan of
    the asked runs, their condition groups' recorded seed group sizes).

  Raises:
    ConfigError: a workdir that lacks what is needed, or a seed or condition
      it does not hold.
  """
  record, env, rows = read_records(workdir)
  names = [c["name"] for c in record["conditions"]]
  for name in conditions or ():
    if name not in names:
      raise ConfigError(f"unknown condition {name!r} in {workdir!r}; valid choices: "
                        f"{', '.join(names)}")
  recorded = {(r["condition"], int(r["seed"])): r for r in rows}
  held = sorted({s for _, s in recorded})
  for s in seeds or ():
    if s not in held:
      raise ConfigError(f"seed {s} is not in {workdir!r}; valid choices: {held[0]} to "
                        f"{held[-1]}" if held else f"{workdir!r} holds no runs")
  wanted = lambda name, seed_column: (
      np.isin(seed_column, list(seeds)) if seeds else np.ones(len(seed_column), bool)) & (
      name in conditions if conditions else True)
  plan, sizes = plan_from_record(record, env, wanted)
  if not plan.conditions:
    raise ConfigError("no run matches --seeds and --condition")
  return record, env, rows, plan, sizes


def describe_dry_run(workdir: str, seeds: Sequence[int] | None = None,
                     conditions: Sequence[str] | None = None) -> str:
  """What `reproduce` would re-train, for `--dry_run`."""
  _, env, _, plan, sizes = planned_runs(workdir, seeds, conditions)
  return (f"would re-train {plan.runs()} run(s) of {workdir} ({plan.seed_steps():,} seed-steps) "
          f"with seed group(s) {sizes} as recorded ({env['seed_group_rule']}); dry run: nothing "
          "was trained or written")


def reproduce(workdir: str, seeds: Sequence[int] | None = None,
              conditions: Sequence[str] | None = None,
              log: Callable[[str], None] = print) -> Reproduction:
  """Re-trains the runs of `workdir` asked for (default: all) and compares them.

  Args:
    workdir: a finished sweep's folder.
    seeds: values of results.csv's `seed` column (None: every seed).
    conditions: condition names (None: every condition).
    log: where progress goes.

  Returns:
    A `Reproduction`: each run's recorded and recomputed numbers.

  Raises:
    ConfigError: a workdir that lacks what is needed, or a seed or condition
      it does not hold.
  """
  record, env, rows, plan, sizes = planned_runs(workdir, seeds, conditions)
  precision = {"precision": plan.settings.precision}
  names = [c["name"] for c in record["conditions"]]
  recorded = {(r["condition"], int(r["seed"])): r for r in rows}
  log(f"re-training {plan.runs()} run(s) of {workdir} with seed group(s) {sizes} as recorded "
      f"({env['seed_group_rule']})")
  with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
    loop = Loop(plan, Workdir(scratch), log, seed_groups=sizes)
    loop.hooks = [ProgressLines(loop.plan.seed_steps(), log)]
    with numerics.precision_scope(precision):
      run_outputs = loop.run()
  new_rows = outputs.result_rows(plan, run_outputs)
  new_curves = outputs.curve_arrays(plan, run_outputs, [c.schedule.evals for c in plan.conditions])
  with np.load(os.path.join(workdir, "curves.npz")) as z:
    old_curves = {k: z[k] for k in CURVES if k in z.files}
  checks = []
  for row in new_rows:
    name, seed = row["condition"], row["seed"]
    old = recorded[(name, seed)]
    ci, new_ci = names.index(name), [c.name for c in plan.conditions].index(name)
    r_old = seed  # a condition's seed column is 0, 1, ... in both designs
    r_new = int(np.flatnonzero(plan.layouts[new_ci]["seed"] == seed)[0])
    equal, points = {}, 0
    for k, arr in old_curves.items():
      a, b = arr[ci, r_old], new_curves[k][new_ci, r_new]
      m = min(a.size, b.size)
      equal[k] = a.size >= m and np.array_equal(a[:m], b[:m], equal_nan=True) and (
          np.isnan(a[m:]).all() and np.isnan(b[m:]).all())
      points += m
    checks.append(RunCheck(name, seed, {c: old[c] for c in NUMBER_COLUMNS},
                           {c: _text(row[c]) for c in NUMBER_COLUMNS}, equal, points))
  differences = [] if all(c.identical for c in checks) else environment_differences(
      env, records.environment(numerics.record(precision)))
  return Reproduction(workdir, checks, sizes, differences)


def _text(v) -> str:
  """A value as results.csv writes it."""
  if isinstance(v, bool) or not isinstance(v, float):
    return str(v)
  return records.exact(v)


def describe(rep: Reproduction) -> str:
  """Per run: the recorded and recomputed final validation score, and the verdict.

  Args:
    rep: the output of `reproduce`.

  Returns:
    The table and a closing verdict, as text lines joined by newlines.
  """
  name_w = max([9] + [len(r.condition) for r in rep.runs])
  num_w = max([10] + [len(r.recorded["final_eval_loss"]) for r in rep.runs]
              + [len(r.recomputed["final_eval_loss"]) for r in rep.runs])
  seed_w = max([4] + [len(str(r.seed)) for r in rep.runs])
  lines = [f"{'condition':<{name_w}} {'seed':>{seed_w}} {'recorded':>{num_w}} "
           f"{'recomputed':>{num_w}}  bits"]
  for r in rep.runs:
    verdict = (f"identical ({len(NUMBER_COLUMNS)} numbers, {r.curve_points} curve values)"
               if r.identical else "DIFFER: " + ", ".join(
                   f"{c} {r.recorded[c]} recorded, {r.recomputed[c]} recomputed"
                   if c in r.recorded else f"{c} curve" for c in r.differing))
    lines.append(f"{r.condition:<{name_w}} {r.seed:>{seed_w}} "
                 f"{r.recorded['final_eval_loss']:>{num_w}} "
                 f"{r.recomputed['final_eval_loss']:>{num_w}}  {verdict}")
  bad = [r for r in rep.runs if not r.identical]
  if not bad:
    lines.append(f"all {len(rep.runs)} run(s) identical to the bit")
  else:
    lines.append(f"{len(bad)} of {len(rep.runs)} run(s) differ: "
                 + "; ".join(f"{r.condition} seed {r.seed}" for r in bad))
    lines += (["the environment differs from the record:"]
              + [f"  {d}" for d in rep.environment_differences]
              if rep.environment_differences else
              ["the environment's bit-deciding fields equal the record's "
               f"({', '.join(records.BIT_FIELDS)}): the records or the code changed"])
  return "\n".join(lines)
