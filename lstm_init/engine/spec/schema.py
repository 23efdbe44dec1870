"""The config schema: every field, composed from the declarations of its readers.

  config = base_config()                 # every field at its default
  check_config(config)                   # numeric ranges, one line per refusal
  unused_reason(config, "task.delay")    # why a field has no effect, or None
  rows = reference()                     # the docs' config reference

A module that reads config fields declares them (`lstm_init.fields.Field`):
each task its `task.*` fields (`lstm_init.training.tasks.TASKS`), the model
its `model.*`, the optimizer and the supervised experiment their `train.*`,
the engine the top-level fields and the training schedule (below). Every
config file starts from `base_config()` and changes what it needs, so any
field can be overridden from the command line of any config
(`--config.task.length=200`) and a mistyped field fails with a suggestion.
A2C's `config.rl` section (`lstm_init.training.rl.a2c.rl_config()`) is added
by the configs that use it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import ml_collections

from lstm_init import dotted, fields
from lstm_init.engine.runtime import numerics
from lstm_init.errors import ConfigError
from lstm_init.training import experiment, model, optim, supervised
from lstm_init.training.rl import a2c
from lstm_init.training.tasks import TASKS

DESIGNS = ("seeds", "crossed", "instability")
_SEED_GROUP = fields.Valid(
    lambda v: v == -1 or v >= 1,
    "-1 (the backend's rule: 1 on CPU; on GPU/TPU the largest power of two <= 1024 that fits "
    "the device) or n >= 1; 0 (all runs at once) is gone: a seed's batch would depend on the "
    "number of seeds")


def _design(*names):
  return (lambda c: c.design in names, "design=" + " or ".join(names))


# The engine's own fields: the sweep's design, where and how it runs.
TOP_FIELDS = (
    fields.Field("seed", 0, "experiment seed: the root key of every run", fields.at_least(0)),
    fields.Field("num_seeds", 32, "seeds per condition", fields.at_least(1),
                 used_when=_design("seeds", "instability")),
    fields.Field("fixed_streams", "", "streams held fixed across seeds: \"data\", "
                 "\"init,data\", ..."),
    fields.Field("design", "seeds", "\"seeds\", \"crossed\" (init seed x data seed grid) or "
                 "\"instability\" (one-bit flips of a base seed's parameters)", choices=DESIGNS),
    fields.Field("num_init_seeds", 8, "crossed design: init seeds", fields.at_least(1),
                 used_when=_design("crossed")),
    fields.Field("num_data_seeds", 8, "crossed design: data seeds", fields.at_least(1),
                 used_when=_design("crossed")),
    fields.Field("init_seed_offset", 0, "crossed design: first init seed index",
                 fields.at_least(0), used_when=_design("crossed")),
    fields.Field("data_seed_offset", 0, "crossed design: first data seed index",
                 fields.at_least(0), used_when=_design("crossed")),
    fields.Field("num_base_seeds", 1, "instability design: base seeds, each num_seeds runs (run "
                 "0 unperturbed, run j > 0 one bit flipped; lstm_init.core.perturb)",
                 used_when=_design("instability")),
    fields.Field("base_seed_offset", 0, "instability design: first base seed index",
                 used_when=_design("instability")),
    fields.Field("sweep", (), "default sweep axes, e.g. (\"model.init.preset=keras,pytorch\",)"),
    fields.Field("name", "sweep", "a label for reports and the workdir"),
    fields.Field("experiment", "supervised", "what trains: \"supervised\" (the LSTM on "
                 "config.task), \"a2c\" (recurrent A2C on gymnax, needs config.rl) or "
                 "\"module:factory\" of your own", choices=tuple(experiment.BUILT_IN)),
    fields.Field("memory_budget_gb", None, "memory a chunk of runs may use per device (None: "
                 "a safe share)", fields.above(0), kind=float),
    fields.Field("max_chunk_seeds", 0, "runs per chunk at most (0 = as many as fit)",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = as many as fit)")),
    fields.Field("devices", 0, "shard runs over this many devices (0 = all)",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = all)")),
    fields.Field("seed_group", -1, "runs vmapped together per device: -1 = the backend's "
                 "rule (1 on CPU; on GPU/TPU the largest power of two <= 1024 whose programs "
                 "fit the device by XLA's analysis), n >= 1 = exactly n; a run always computes "
                 "in a batch of this size", _SEED_GROUP),
    fields.Field("seed_group_timing", False, "time candidate sizes and keep the fastest "
                 "(per-seed results then depend on the choice)",
                 used_when=(lambda c: int(c.seed_group) == -1, "seed_group=-1")),
    fields.Field("precision", numerics.DEFAULT_PRECISION, "float32 matmul precision: "
                 "\"highest\" (float32 on every backend), \"tf32\" or \"bf16\" (faster on "
                 "GPUs and TPUs, other arithmetic: named in the log and environment.json)",
                 choices=tuple(numerics.PRECISIONS)),
    fields.Field("checkpoint_every_s", 30.0, "checkpoint at most this often (between pieces; "
                 "0 = always)", fields.at_least(0)),
    fields.Field("report", True, "write report.md and figures at the end"),
    fields.Field("writers", "jsonl", "metric writers, comma-separated: jsonl (metrics.jsonl), "
                 "tensorboard (tensorboard/<condition>/)"),
)
# The training schedule, which the engine cuts into pieces.
TRAIN_FIELDS = (
    fields.Field("steps", 400, "training steps (updates) per run", fields.at_least(1)),
    fields.Field("eval_every", 0, "steps between validations, inside the compiled piece (0 = "
                 "auto: about steps // 40)",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = auto: steps // 40)")),
    fields.Field("log_every", 100, "steps per piece: log, progress, metrics.jsonl, checkpoint",
                 fields.at_least(1)),
    fields.Field("curve_rows", 64, "validation rows of the learning curves (0 = all); the final "
                 "validation loss always uses the whole set",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = the whole validation set)")),
)
# Fields read only by the studies (experiments.best_seed, signal_propagation).
STUDY_FIELDS = (
    fields.Field("retrain_data_seeds", 16, "best-seed study: retrains of the chosen seed, new "
                 "data orders", fields.at_least(1)),
)
SIGNAL_FIELDS = (
    fields.Field("presets", "", "comma-separated; \"\" = every framework preset, chrono, irnn"),
    fields.Field("batch", 32, "input rows the diagnostics run on"),
    fields.Field("depth", 8, "layers of the residual-depth study"),
    fields.Field("fraction", 1e-3, "gradient reach: distance where the norm < fraction x "
                 "distance 0"),
)
STUDY_SECTIONS = ("retrain_data_seeds", "signal.")
TASK_NAME = fields.Field("name", "adding", "the task", choices=tuple(TASKS))


def sections() -> dict[str, tuple[fields.Field, ...]]:
  """Every section's fields: "" (top level), "task", "model", "train", "signal".

  Returns:
    {section: its declarations, in the order `base_config` lists them}.
  """
  return {"": fields.merge(TOP_FIELDS, supervised.TOP_FIELDS, STUDY_FIELDS),
          "task": fields.merge((TASK_NAME,), *(t.fields for t in TASKS.values())),
          "model": model.FIELDS,
          "train": fields.merge(TRAIN_FIELDS[:1], supervised.TRAIN_FIELDS[:1], optim.FIELDS,
                                TRAIN_FIELDS[1:], supervised.TRAIN_FIELDS[1:]),
          "signal": SIGNAL_FIELDS}


def base_config() -> ml_collections.ConfigDict:
  """Every config field with its default.

  Returns:
    A fresh ConfigDict: the top-level fields and the `task`, `model`, `train`
    and `signal` sections.
  """
  c = ml_collections.ConfigDict()
  for name, group in sections().items():
    if name:
      c[name] = fields.to_config(group)
    else:
      for key, value in fields.to_config(group).items():
        c[key] = value
  return c


def _declared(config) -> Iterator[tuple[str, fields.Field]]:
  """(dotted path, declaration) of every declared field, `rl` included when present."""
  for name, group in sections().items():
    for f in group:
      yield (f"{name}.{f.name}" if name else f.name), f
  if "rl" in config:
    for f in a2c.FIELDS:
      yield f"rl.{f.name}", f


def check_config(config) -> None:
  """Refuses a numeric field outside its range (NaN and inf included).

  Args:
    config: a whole config (fields it lacks are skipped).

  Raises:
    ConfigError: naming the field, the value and the valid range; or for
      `seed_group_timing=True` without `seed_group=-1`.
  """
  for path, f in _declared(config):
    if f.valid is not None:
      fields.check_value(path, dotted.get(config, path), f.valid)
  if bool(dotted.get(config, "seed_group_timing")) and dotted.get(config, "seed_group") != -1:
    raise ConfigError(f"seed_group_timing=True times the candidate sizes, so it needs "
                      f"seed_group=-1, got seed_group={dotted.get(config, 'seed_group')}; valid "
                      "choices: a fixed seed_group, or seed_group=-1 with seed_group_timing")


# Fields that may change between a run and its resumption without changing results.
RESUMABLE_FIELDS = ("report", "checkpoint_every_s", "memory_budget_gb", "max_chunk_seeds",
                    "devices", "writers")


def conditional_fields() -> list[str]:
  """Every field that a run uses only in some settings (see `unused_reason`).

  Returns:
    The dotted paths, sorted.
  """
  tasks = {f"task.{f.name}" for t in TASKS.values() for f in t.fields}
  when = {path for path, f in _declared(ml_collections.ConfigDict({"rl": {}}))
          if f.used_when is not None}
  return sorted(tasks | when)


def unused_reason(config, path: str) -> str | None:
  """Why `path` has no effect on a run of `config`, or None when it is used.

  Args:
    config: one condition's config.
    path: a dotted field path.

  Returns:
    The reason in words, or None.
  """
  if path.startswith(STUDY_SECTIONS):
    return "it is read only by the studies (experiments.best_seed, signal_propagation)"
  if path.startswith("task.") and path != "task.name":
    name, field = config.task.name, path[len("task."):]
    if name in TASKS:
      task = TASKS[name]
      if field not in {f.name for f in task.fields}:
        users = [t.name for t in TASKS.values() if field in {f.name for f in t.fields}]
        return f"task {name!r} does not use it (used by: {', '.join(users)})"
      if field in task.used_when and not task.used_when[field][0](config.task):
        return f"it is used only with {task.used_when[field][1]}"
  for p, f in _declared(config):
    if p == path and f.used_when is not None and not f.used_when[0](config):
      return f"it is used only with {f.used_when[1]}"
  return None


@dataclasses.dataclass(frozen=True)
class Row:
  """One field of the config reference."""

  path: str
  default: Any
  valid: str
  comment: str
  used: str  # when it is read, in words ("" always; the tasks that read a task field)


def reference() -> list[Row]:
  """The config reference: every field of `base_config()` and of `config.rl`.

  Returns:
    One `Row` per field, section by section, in declaration order.
  """
  rows = []
  for path, f in _declared(ml_collections.ConfigDict({"rl": {}})):
    used = f.used_when[1] if f.used_when else ""
    if path.startswith("task.") and path != "task.name":
      readers = [t for t in TASKS.values() if f in t.fields]
      used = "task " + ", ".join(
          t.name + (f" with {t.used_when[f.name][1]}" if f.name in t.used_when else "")
          for t in readers)
    elif path.startswith(STUDY_SECTIONS):
      used = "the studies (experiments.best_seed, signal_propagation)"
    elif path.startswith("rl."):
      used = " ".join(filter(None, ["experiment=a2c", f"with {used}" if used else ""]))
    rows.append(Row(path, f.default, f.valid_text(), f.comment, used))
  return rows
