"""The conditions of one or more workdirs side by side: the report's one record.

  m = merge([load_results("runs/a"), load_results("runs/b")])
  m.final[i]        # [seeds] condition i's final validation scores
  m.summaries[i]    # its ConditionSummary, as summary.json holds it

Every figure, table and section reads a `Merged`; names of conditions from
several workdirs are prefixed with the workdir's folder name.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lstm_init.errors import ConfigError
from lstm_init.report.layouts import RunLayout, condition_layout
from lstm_init.report.results import SweepResults
from lstm_init.report.summary import ConditionSummary


@dataclasses.dataclass(frozen=True)
class Merged:
  """Per condition (index i, in order): its runs' numbers and its summary."""

  conditions: list[str]               # names (workdir-prefixed when several)
  final: list[np.ndarray]             # [seeds] final validation score
  test: list[np.ndarray]              # [seeds] final test score
  metric: list[np.ndarray]            # [seeds] final validation metric
  diverged: list[np.ndarray]          # [seeds] bool
  early: list[np.ndarray]             # [seeds] loss over the first `first_k` positions
  late: list[np.ndarray]              # [seeds] loss over the other positions
  curves: list[np.ndarray]            # [seeds, evals] validation loss on the curve rows
  per_timestep: list[np.ndarray]      # [seeds, window] validation loss per position
  steps: list[np.ndarray]             # [evals] the curves' steps in `step_unit` (-1 pads)
  baselines: list[float]              # each condition's no-learning baseline (NaN: none)
  summaries: list[ConditionSummary]
  first_k: int                        # early positions of a window
  metric_name: str
  higher: bool                        # higher scores are better (returns)
  score: str                          # what the final score is ("final validation loss")
  step_unit: str
  baseline: float | None              # the baseline when every condition shares one
  baseline_note: str
  task: str
  seed: int                           # the first sweep's seed (bootstrap draws)
  curve_rows: list[int]               # validation rows the curves were measured on
  layouts: list[RunLayout | None]     # which runs share random streams (None: unknown)


def merge(runs: list[SweepResults]) -> Merged:
  """Conditions of several workdirs side by side (names made unique).

  Raises:
    ConfigError: (one line) if the workdirs score in different directions.
  """
  directions = {bool(run.summary_record.get("lower_is_better", True)) for run in runs}
  if len(directions) > 1:
    raise ConfigError("these workdirs score in different directions (losses, lower is better, "
                      "and returns, higher is better) and cannot be ranked together; valid "
                      "choices: workdirs that all score losses or all score returns")
  multi = len(runs) > 1
  cols = {"final": "final_eval_loss", "test": "final_test_loss", "metric": "final_eval_metric",
          "diverged": "diverged", "early": "early_eval_loss", "late": "late_eval_loss"}
  m: dict[str, list] = {k: [] for k in (*cols, "conditions", "curves", "per_timestep", "steps",
                                        "baselines", "summaries", "layouts")}
  for run in runs:
    tag = os.path.basename(os.path.normpath(run.workdir))
    for ci, name in enumerate(run.conditions):
      m["conditions"].append(f"{tag}:{name}" if multi else name)
      for key, column in cols.items():
        m[key].append(run.column(name, column))
      m["curves"].append(run.curve_arrays["eval_loss"][ci])
      m["per_timestep"].append(run.curve_arrays["per_timestep_loss"][ci])
      own = run.condition_summary(name)
      st = run.curve_arrays["steps"][ci]  # -1 pads evaluations a run did not have
      m["steps"].append(np.where(st >= 0, st * int(own.steps_per_update), st))
      m["summaries"].append(own)
      m["layouts"].append(condition_layout(
          run.record, name, [r for r in run.rows if r["condition"] == name]))
      baseline = own.baseline if "baseline" in run.summary_record["conditions"][name] else (
          run.summary_record["baseline"])
      m["baselines"].append(np.nan if baseline is None else float(baseline))
  first = runs[0].summary_record
  shared = len(set(m["baselines"])) == 1
  return Merged(**m, first_k=int(first.get("first_k", 1)), metric_name=first["metric"],
                higher=not first.get("lower_is_better", True),
                score=first.get("score", "final validation loss"),
                step_unit=first.get("step_unit", "training step"),
                baseline=m["baselines"][0] if shared else None,
                baseline_note=first["baseline_note"] if shared else "per condition",
                task="; ".join(dict.fromkeys(run.summary_record["task"] for run in runs)),
                seed=int(runs[0].record["config"].get("seed", 0)),
                curve_rows=sorted({int(r) for run in runs
                                   for r in run.curve_arrays.get("curve_rows", [0])}))
