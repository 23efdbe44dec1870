"""What a sweep records of its runs: results rows, curves and the summary, computed once.

The loop collects per-condition arrays while it trains; this module turns them
into `results.csv` rows, `curves.npz` arrays and `summary.json`'s dict, which
`persist.workdir.Workdir.write_results` writes. The summary's statistics and
vocabulary are the report's (`report.summary`), and
`report.results.load_results` reads a finished workdir back.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.report import summary as summary_lib
from lstm_init.report.results import RESULT_COLUMNS


def early_late(per_position: np.ndarray, k: int) -> tuple[float, float]:
  """Mean loss over the first k positions of a window and over the rest."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return float(np.nanmean(per_position[:k])), float(np.nanmean(per_position[k:]))


def final_train_loss(every_step: np.ndarray) -> float:
  """Mean training loss over the last max(1, steps // 40) steps before a run
  diverged (NaN if it never trained); independent of the curves' cadence."""
  finite = every_step[np.isfinite(every_step)]
  if not finite.size:
    return math.nan
  return float(finite[-max(1, every_step.size // 40):].mean())


def describe_plan(plan: SweepPlan) -> str:
  """What a sweep compares, for the log: conditions, seeds, task(s), baseline, programs."""
  seeds = len(plan.layouts[0]["seed"])
  exps = plan.experiments
  tasks = list(dict.fromkeys(e.description for e in exps))
  lines = [f"Sweep {plan.settings.name!r}: {len(plan.conditions)} condition(s) x {seeds} seeds on "
           + (tasks[0] if len(tasks) == 1 else f"{len(tasks)} tasks")]
  if len(tasks) == 1:
    if exps[0].baseline is not None:
      lines.append(f"  baseline: {exps[0].baseline:.4g} ({exps[0].baseline_note})")
  else:
    lines += [f"  {c.name}: {e.description}; baseline {_g(e.baseline)}"
              for c, e in zip(plan.conditions, exps)]
  lines.append(f"  {len(plan.groups)} program(s); conditions: "
               + "; ".join(c.name for c in plan.conditions))
  return "\n".join(lines)


def result_columns(plan: SweepPlan) -> list[str]:
  """results.csv's columns: RESULT_COLUMNS (with `perturbation` in the instability
  design), then the swept fields."""
  axes = list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))
  columns = list(RESULT_COLUMNS)
  if any("perturbation" in lay for lay in plan.layouts):  # the instability design
    columns.insert(columns.index("data_seed") + 1, "perturbation")
  return columns + axes


def _g(v) -> str:
  return "n/a" if v is None else f"{v:.4g}"


def result_rows(plan: SweepPlan, per: dict[int, dict[str, np.ndarray]]) -> list[dict]:
  """results.csv's rows, one per run.

  Args:
    plan: the sweep.
    per: per condition index, the loop's outputs (`execute.state.OUTPUTS`, [seeds, ...]).

  Returns:
    Dicts keyed by `result_columns(plan)`, conditions in order, seeds in layout order.
  """
  rows = []
  for ci, c in enumerate(plan.conditions):
    out, lay = per[ci], plan.layouts[ci]
    k = plan.experiments[ci].first_k
    for r in range(len(lay["seed"])):
      early, late = early_late(out["per_position"][r], k)
      row = {"condition": c.name, "seed": int(lay["seed"][r]),
             "init_seed": int(lay["init_seed"][r]), "data_seed": int(lay["data_seed"][r]),
             "final_train_loss": final_train_loss(out["train_steps"][r]),
             "final_eval_loss": float(out["final_eval_loss"][r]),
             "final_eval_metric": float(out["final_eval_metric"][r]),
             "final_test_loss": float(out["test_loss"][r]),
             "final_test_metric": float(out["test_metric"][r]),
             "early_eval_loss": early, "late_eval_loss": late,
             "diverged": bool(out["diverged"][r]),
             "diverged_step": int(out["diverged_step"][r])}
      if "perturbation" in lay:
        row["perturbation"] = int(lay["perturbation"][r])
      row.update(c.overrides)
      rows.append(row)
  return rows


def curve_arrays(plan: SweepPlan, per, steps) -> dict[str, np.ndarray]:
  """[condition, seed, validation] arrays at `steps` (NaN-padded where sizes
  differ), and `train_loss_every_step` [condition, seed, step] (float32).

  `train_loss` at a validation step is the mean training loss of the steps
  since the previous validation; `eval_loss` and `eval_metric` are measured
  on the first `train.curve_rows` rows of the validation set (`curve_rows`;
  0: all), the final values in results.csv on all of it.
  """
  n_c = len(plan.conditions)
  n_s = max(len(l["seed"]) for l in plan.layouts)
  n_e = max(len(s) for s in steps)
  n_w = max(per[ci]["per_position"].shape[1] for ci in range(n_c))
  n_t = max(s[-1] for s in steps)
  out = {name: np.full((n_c, n_s, n_e), np.nan) for name in
         ("train_loss", "eval_loss", "eval_metric")}
  out["train_loss_every_step"] = np.full((n_c, n_s, n_t), np.nan, np.float32)
  out["per_timestep_loss"] = np.full((n_c, n_s, n_w), np.nan)
  out["steps"] = np.full((n_c, n_e), -1)
  for ci in range(n_c):
    p, s = per[ci], len(plan.layouts[ci]["seed"])
    e = len(steps[ci])
    out["train_loss"][ci, :s, :e] = p["train_curve"]
    out["train_loss_every_step"][ci, :s, :steps[ci][-1]] = p["train_steps"]
    out["eval_loss"][ci, :s, :e] = p["eval_loss"]
    out["eval_metric"][ci, :s, :e] = p["eval_metric"]
    out["per_timestep_loss"][ci, :s, :p["per_position"].shape[1]] = p["per_position"]
    out["steps"][ci, :e] = steps[ci]
  out["conditions"] = np.array([c.name for c in plan.conditions])
  out["curve_rows"] = np.array([c.curve_rows for c in plan.conditions])
  return out


def summarize(plan: SweepPlan, rows: list[dict],
              curves: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
  """The sweep's `summary.json` (`report.summary.summarize` over the plan's conditions),
  with the plan's identity, as config.json carries it: readers refuse a folder
  whose two files name different sweeps (`report.workdir_files.check_same_sweep`)."""
  conditions = [summary_lib.ScoredCondition(
      c.name, c.overrides, c.seeds.design,
      {k: getattr(e, k) for k in summary_lib.TASK_FIELDS if k != "task"} | {
          "task": e.description})
      for c, e in zip(plan.conditions, plan.experiments)]
  out = summary_lib.summarize(conditions, rows, plan.settings.seed, curves)
  out["identity"] = plan.identity
  return out
