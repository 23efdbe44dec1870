"""A finished sweep read back from its workdir, typed: `load_results`.

The columns of `results.csv` are named here (`RESULT_COLUMNS`), for the
engine that writes them and the report that reads them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from lstm_init import records
from lstm_init.errors import ConfigError
from lstm_init.report.summary import ConditionSummary

RESULT_COLUMNS = ["condition", "seed", "init_seed", "data_seed", "final_train_loss",
                  "final_eval_loss", "final_eval_metric", "final_test_loss",
                  "final_test_metric", "early_eval_loss", "late_eval_loss", "diverged",
                  "diverged_step"]
INT_COLUMNS = ("seed", "init_seed", "data_seed", "diverged_step")


@dataclasses.dataclass(frozen=True)
class SweepResults:
  """A finished sweep as written: typed rows, summary, curves and records."""

  workdir: str
  rows: list[dict[str, Any]]      # results.csv, with numbers, bools and typed axis values
  summary: dict[str, Any]         # summary.json
  curves: dict[str, np.ndarray]   # curves.npz
  record: dict[str, Any]          # config.json
  environment: dict[str, Any]     # environment.json ({} if absent)

  @property
  def conditions(self) -> list[str]:
    """The conditions' names, in the sweep's order."""
    return [str(n) for n in self.curves["conditions"]]

  def column(self, condition: str, name: str) -> np.ndarray:
    """One column of results.csv over a condition's seeds: [seeds]."""
    return np.array([r[name] for r in self.rows if r["condition"] == condition])

  def condition_summary(self, condition: str) -> ConditionSummary:
    """A condition's statistics from summary.json, typed."""
    return ConditionSummary.from_dict(self.summary["conditions"][condition])


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
  path = os.path.join(workdir, "results.csv")
  if not os.path.isfile(path):
    raise ConfigError(f"{workdir!r} is not a finished sweep workdir (no results.csv)")

  def read_json(name, default=None):
    p = os.path.join(workdir, name)
    if not os.path.exists(p) and default is not None:
      return default
    with open(p) as f:
      return json.load(f)

  record = read_json("config.json")
  overrides = {c["name"]: c["overrides"] for c in record.get("conditions", [])}
  rows = [_typed_row(r, overrides) for r in records.read_csv(path)]
  with np.load(os.path.join(workdir, "curves.npz")) as z:
    curves = {k: z[k] for k in z.files}
  return SweepResults(workdir, rows, read_json("summary.json"), curves, record,
                      read_json("environment.json", {}))
