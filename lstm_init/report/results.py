"""A finished sweep read back from its workdir, typed: `load_results`.

  res = load_results("runs/x")     # or what run_sweep / lstm_init.sweep returned
  res.runs                         # DataFrame: one row per run, typed columns
  res.curves                       # DataFrame, long: condition, seed, step, split, value
  res.summary                      # DataFrame: one row per condition
  res.rows, res.summary_record, res.curve_arrays   # the files as written

The columns of `results.csv` are named here (`RESULT_COLUMNS`), for the
engine that writes them and the report that reads them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pandas as pd

from lstm_init import records
from lstm_init.errors import ConfigError
from lstm_init.report import workdir_files as files
from lstm_init.report.summary import ConditionSummary, steps_to_target

RESULT_COLUMNS = ["condition", "seed", "init_seed", "data_seed", "final_train_loss",
                  "final_eval_loss", "final_eval_metric", "final_test_loss",
                  "final_test_metric", "early_eval_loss", "late_eval_loss", "diverged",
                  "diverged_step"]
INT_COLUMNS = ("seed", "init_seed", "data_seed", "diverged_step")


@dataclasses.dataclass(frozen=True)
class SweepResults:
  """A finished sweep: its files as written, and pandas views of them.

  The same object for any workdir: one `run_sweep` just wrote, an old one
  (fields it lacks read as NaN or None), one from a multi-process run, an RL one.
  """

  workdir: str
  rows: list[dict[str, Any]]            # results.csv, with numbers, bools and typed axis values
  summary_record: dict[str, Any]        # summary.json
  curve_arrays: dict[str, np.ndarray]   # curves.npz ([condition, seed, evaluation] arrays)
  record: dict[str, Any]                # config.json
  environment: dict[str, Any]           # environment.json ({} if absent)

  @property
  def conditions(self) -> list[str]:
    """The conditions' names, in the sweep's order."""
    return [str(n) for n in self.curve_arrays["conditions"]]

  @property
  def runs(self) -> pd.DataFrame:
    """One row per run (`runs_frame`)."""
    return runs_frame(self)

  @property
  def curves(self) -> pd.DataFrame:
    """The learning curves, long (`curves_frame`)."""
    return curves_frame(self)

  @property
  def summary(self) -> pd.DataFrame:
    """One row per condition (`summary_frame`)."""
    return summary_frame(self)

  def column(self, condition: str, name: str) -> np.ndarray:
    """One column of results.csv over a condition's seeds: [seeds]."""
    return np.array([r[name] for r in self.rows if r["condition"] == condition])

  def condition_summary(self, condition: str) -> ConditionSummary:
    """A condition's statistics from summary.json, typed."""
    return ConditionSummary.from_dict(self.summary_record["conditions"][condition])


def _typed_column(values: list) -> "pd.Series":
  """A swept field's values as one dtype: bool, int64, float64 or string."""
  if all(isinstance(v, bool) for v in values):
    return pd.Series(values, dtype=bool)
  if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
    return pd.Series(values, dtype="int64")
  if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
    return pd.Series(values, dtype="float64")
  return pd.Series([str(v) for v in values], dtype="string")


def runs_frame(res: "SweepResults") -> "pd.DataFrame":
  """results.csv as a typed DataFrame, with each run's noise index and steps to target."""
  names = res.conditions
  out = pd.DataFrame({"condition": pd.Categorical([r["condition"] for r in res.rows],
                                                  categories=names)})
  for name in ("seed", "init_seed", "data_seed"):
    out[name] = np.array([r[name] for r in res.rows], np.int64)
  # dropout and initial-state noise follow the data seed in every design
  out["noise_seed"] = out["data_seed"]
  if any("perturbation" in r for r in res.rows):
    out["perturbation"] = np.array([r.get("perturbation", 0) for r in res.rows], np.int64)
  for name in RESULT_COLUMNS[4:]:
    if name == "diverged":
      out[name] = np.array([r[name] for r in res.rows], bool)
    elif name == "diverged_step":
      out[name] = np.array([r[name] for r in res.rows], np.int64)
    else:
      out[name] = np.array([r[name] for r in res.rows], np.float64)
  out["steps_to_target"] = _steps_to_target(res)
  for path in dict.fromkeys(p for r in res.rows for p in r if p not in out.columns
                            and p not in RESULT_COLUMNS and p != "perturbation"):
    out[path] = _typed_column([r.get(path) for r in res.rows]).values
  return out


def _steps_to_target(res: "SweepResults") -> np.ndarray:
  """Per row: the steps (in the task's unit) until the learning curve reached the
  task's target; inf if never, NaN where the task has no target."""
  took = np.full(len(res.rows), np.nan)
  for ci, name in enumerate(res.conditions):
    s = res.condition_summary(name)
    rows = [i for i, r in enumerate(res.rows) if r["condition"] == name]
    if s.target is None:
      continue
    curve = res.curve_arrays["eval_loss"][ci, :len(rows)]
    took[rows] = steps_to_target(curve, res.curve_arrays["steps"][ci], s.target,
                                 not s.lower_is_better) * s.steps_per_update
  return took


CURVE_SPLITS = {"train": "train_loss", "val": "eval_loss", "val_metric": "eval_metric"}


def curves_frame(res: "SweepResults") -> "pd.DataFrame":
  """The learning curves, long: condition, seed, step, split, value.

  `split` is "train" (the mean training loss since the previous validation;
  none at step 0), "val" (the validation loss on the curve rows) or
  "val_metric" (the task's metric there); `step` counts training steps.
  """
  parts = []
  seeds = {name: res.column(name, "seed") for name in res.conditions}
  for ci, name in enumerate(res.conditions):
    steps = res.curve_arrays["steps"][ci]
    e = steps >= 0
    n = len(seeds[name])
    for split, key in CURVE_SPLITS.items():
      values = res.curve_arrays[key][ci, :n][:, e]
      frame = pd.DataFrame({"seed": np.repeat(seeds[name], e.sum()).astype(np.int64),
                            "step": np.tile(steps[e], n).astype(np.int64),
                            "value": values.reshape(-1).astype(np.float64)})
      frame["split"] = split
      frame["condition"] = name
      parts.append(frame[np.isfinite(frame["value"]) | (split != "train")])
  out = pd.concat(parts, ignore_index=True)
  out["condition"] = pd.Categorical(out["condition"], categories=res.conditions)
  out["split"] = pd.Categorical(out["split"], categories=list(CURVE_SPLITS))
  return out[["condition", "seed", "step", "split", "value"]]


def summary_frame(res: "SweepResults") -> "pd.DataFrame":
  """summary.json as one row per condition: every `ConditionSummary` field, the
  swept fields as columns, nested components as `<name>.<part>` columns."""
  records = []
  for name in res.conditions:
    d = res.condition_summary(name).to_dict()
    row = {"condition": name}
    for k, v in d.items():
      if k == "overrides":
        row.update(v)
      elif isinstance(v, dict):
        row.update({f"{k}.{part}": x for part, x in v.items()})
      else:
        row[k] = v
    records.append(row)
  out = pd.DataFrame(records)
  out["condition"] = pd.Categorical(out["condition"], categories=res.conditions)
  return out


def _typed_row(row: dict[str, str], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
  out: dict[str, Any] = {"condition": row["condition"]}
  for name in RESULT_COLUMNS[1:]:
    text = row.get(name, "nan")
    if name == "diverged":
      out[name] = text == "True"
    elif name in INT_COLUMNS:
      out[name] = int(text)
    else:
      out[name] = records.read_exact(text)
  if row.get("perturbation"):  # the instability design's column
    out["perturbation"] = int(row["perturbation"])
  out.update(overrides.get(row["condition"], {}))
  return out


def load_results(workdir: str) -> SweepResults:
  """Reads a finished sweep's workdir.

  Args:
    workdir: a folder with results.csv, summary.json, curves.npz and config.json.

  Returns:
    The typed `SweepResults`.

  Raises:
    ConfigError: (one line) if `workdir` is not a finished sweep.
  """
  text_rows = files.read_rows(workdir)
  record = files.read_json(workdir, "config.json", "the config that ran")
  summary = files.read_json(workdir, "summary.json", "the statistics per condition")
  files.check_same_sweep(workdir, record, summary)
  overrides = {c["name"]: c["overrides"] for c in record.get("conditions", [])}
  try:
    rows = [_typed_row(r, overrides) for r in text_rows]
  except ValueError as e:
    raise ConfigError(f"{os.path.join(workdir, 'results.csv')} holds a cell that is not a "
                      f"number where one is due ({e}); {files.REWRITE}") from None
  curves = files.read_curves(workdir)
  return SweepResults(workdir, rows, summary, curves, record,
                      files.read_json(workdir, "environment.json", "the environment", {}))
