"""Results of a sweep, owned here: computed once, written once, read back typed.

The loop collects per-condition arrays while it trains; this module turns them
into `results.csv` rows, `curves.npz` arrays and `summary.json` (`write`),
prints the summary table, and reads a finished workdir back (`load_results`)
for the report and the studies.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from typing import Any

import numpy as np

from lstm_init import records, stats
from lstm_init.errors import ConfigError
from lstm_init.plan import SweepPlan

RESULT_COLUMNS = ["condition", "seed", "init_seed", "data_seed", "final_train_loss",
                  "final_eval_loss", "final_eval_metric", "final_test_loss",
                  "final_test_metric", "early_eval_loss", "late_eval_loss", "diverged",
                  "diverged_step"]


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
  c0 = plan.conditions[0].config
  seeds = len(plan.layouts[0]["seed"])
  exps = plan.experiments
  tasks = list(dict.fromkeys(e.description for e in exps))
  lines = [f"Sweep {c0.name!r}: {len(plan.conditions)} condition(s) x {seeds} seeds on "
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
  axes = list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))
  columns = list(RESULT_COLUMNS)
  if any("perturbation" in lay for lay in plan.layouts):  # the instability design
    columns.insert(columns.index("data_seed") + 1, "perturbation")
  return columns + axes


def _g(v) -> str:
  return "n/a" if v is None else f"{v:.4g}"


def result_rows(plan: SweepPlan, per: dict[int, dict[str, np.ndarray]]) -> list[dict]:
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
  out["curve_rows"] = np.array([int(c.config.train.curve_rows) for c in plan.conditions])
  return out


def steps_to_target(curve: np.ndarray, steps: np.ndarray, target: float,
                    higher: bool) -> np.ndarray:
  """Per run: the first learning-curve step whose score reaches `target` (inf: never).

  curve: [runs, evaluations]; steps: [evaluations] (-1 pads missing evaluations)."""
  e = int((steps >= 0).sum())
  curve, steps = curve[:, :e], steps[:e]
  reached = (curve >= target) if higher else (curve <= target)
  return np.where(reached.any(axis=1), steps[np.argmax(reached, axis=1)], np.inf)


def summarize(plan: SweepPlan, rows: list[dict],
              curves: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
  """Per condition: statistics of the final evaluation loss over non-diverged seeds
  (and, given the curves and an experiment's `target`, how long runs took to reach it).

  Each condition carries its own task's description, baseline and metric; the
  top-level fields hold them when every condition shares one task, and None
  (`"task": "per condition"`) when a sweep varies the task.
  """
  per_task = [{"task": e.description, "metric": e.metric, "baseline": e.baseline,
               "baseline_note": e.baseline_note, "first_k": e.first_k,
               "lower_is_better": e.lower_is_better, "score": e.score,
               "step_unit": e.step_unit, "steps_per_update": e.steps_per_update,
               "failure_line": e.failure_line, "target": e.target}
              for e in plan.experiments]
  shared = all(p == per_task[0] for p in per_task)
  out = dict(per_task[0]) if shared else {
      "task": "per condition", "metric": per_task[0]["metric"] if all(
          p["metric"] == per_task[0]["metric"] for p in per_task) else "metric",
      "baseline": None, "baseline_note": "per condition", "first_k": per_task[0]["first_k"],
      **{k: per_task[0][k] for k in ("lower_is_better", "score", "step_unit",
                                     "steps_per_update", "failure_line", "target")}}
  out["conditions"] = {}
  for ci, c in enumerate(plan.conditions):
    exp = plan.experiments[ci]
    mine = [r for r in rows if r["condition"] == c.name]
    ok = np.array([r["final_eval_loss"] for r in mine if not r["diverged"]])
    d = stats.describe(ok)
    seed = int(plan.config.seed)
    low, high = stats.bootstrap_ci(ok, key_or_seed=seed) if ok.size else (math.nan, math.nan)
    # rliable's interval: a percentile bootstrap of the IQM over runs (one task: one stratum).
    iqm_low, iqm_high = stats.bootstrap_ci(ok, stats.iqm, key_or_seed=seed,
                                           n_resamples=2000) if ok.size else (math.nan,
                                                                               math.nan)
    line = exp.failure_line
    n_failed = (None if line is None else
                int(np.sum(ok > line) if exp.lower_is_better else np.sum(ok < line)))
    metric = np.array([r["final_eval_metric"] for r in mine if not r["diverged"]])
    early = np.array([r["early_eval_loss"] for r in mine if not r["diverged"]])
    late = np.array([r["late_eval_loss"] for r in mine if not r["diverged"]])
    n_div = sum(r["diverged"] for r in mine)
    fail = stats.failure_rate(int(n_div), len(mine))
    out["conditions"][c.name] = {
        "n": len(mine), "n_diverged": int(n_div),
        "diverged_rate_low": fail["low"], "diverged_rate_high": fail["high"],
        **{k: d.get(k, math.nan) for k in ("mean", "std", "median", "iqm", "min", "max")},
        "ci95_low": low, "ci95_high": high, "iqm_ci95_low": iqm_low,
        "iqm_ci95_high": iqm_high, "n_failed": n_failed,
        "metric_mean": float(metric.mean()) if metric.size else math.nan,
        "metric_median": float(np.median(metric)) if metric.size else math.nan,
        "early_median": _finite_median(early), "late_median": _finite_median(late),
        "overrides": c.overrides, **per_task[ci]}
    if curves is not None and exp.target is not None:
      n = len(mine)
      took = steps_to_target(curves["eval_loss"][ci, :n], curves["steps"][ci], exp.target,
                             not exp.lower_is_better) * exp.steps_per_update
      took = took[~np.array([r["diverged"] for r in mine], bool)]
      out["conditions"][c.name].update(
          n_reached=int(np.isfinite(took).sum()),
          # the median over every run, those that never reached it counting as infinite
          median_steps_to_target=float(np.median(took)) if took.size else math.nan)
    if c.config.design == "crossed":
      out["conditions"][c.name]["variance_components"] = crossed_components(
          mine, int(plan.config.seed))
    if c.config.design == "instability":
      out["conditions"][c.name]["instability"] = instability_components(
          mine, int(plan.config.seed))
  return out


def _finite_median(a: np.ndarray) -> float:
  """Median of the finite values (NaN when there are none: e.g. early-position loss of
  a task scored only at the last step)."""
  a = a[np.isfinite(a)]
  return float(np.median(a)) if a.size else math.nan


def crossed_components(rows: list[dict], seed: int) -> dict[str, float]:
  """Variance components of the final validation loss over an init x data grid."""
  inits = sorted({r["init_seed"] for r in rows})
  datas = sorted({r["data_seed"] for r in rows})
  table = np.full((len(inits), len(datas)), np.nan)
  for r in rows:
    table[inits.index(r["init_seed"]), datas.index(r["data_seed"])] = r["final_eval_loss"]
  if not np.isfinite(table).all() or min(table.shape) < 2:
    return {}
  return stats.variance_components(table, key_or_seed=seed)


def instability_components(rows: list[dict], seed: int) -> dict[str, float]:
  """The spread of one-bit perturbations of the final validation loss, against the
  spread between base seeds (`stats.instability_components`)."""
  bases = sorted({r["init_seed"] for r in rows})
  per = max(r["perturbation"] for r in rows) + 1
  table = np.full((len(bases), per), np.nan)
  for r in rows:
    table[bases.index(r["init_seed"]), r["perturbation"]] = r["final_eval_loss"]
  if not np.isfinite(table).all() or per < 2:
    return {}
  return stats.instability_components(table, key_or_seed=seed)


def summary_table(summary: dict[str, Any]) -> str:
  """A plain-text table of the summary, for the log."""
  conds = summary["conditions"].values()
  shared = summary["baseline"] is not None
  per_condition = not shared and any(s.get("baseline") is not None for s in conds)
  failing = any(s.get("n_failed") is not None for s in conds)
  reaching = any("n_reached" in s for s in conds)
  head = (f"{'condition':<32} {'n':>4} {'div':>4} {'mean':>9} {'95% CI':>21} {'median':>9} "
          f"{'iqm':>9} {'IQM 95% CI':>21} {'std':>9} {'min':>9} {'max':>9} "
          f"{summary['metric'][:9]:>9}" + (f" {'failed':>6}" if failing else "")
          + (f" {'reached':>8} {'to target':>10}" if reaching else "")
          + (f" {'baseline':>9}" if per_condition else ""))
  about = (f"{summary['task']}; baseline {summary['baseline']:.4g}" if shared else
           "each condition against its own task's baseline" if per_condition else
           summary["task"])
  better = "lower" if summary.get("lower_is_better", True) else "higher"
  line = summary.get("failure_line")
  failed = (f"; failed = seeds {'below' if better == 'higher' else 'above'} {line:g}"
            if failing and line is not None else "")
  target = summary.get("target")
  reached = (f"; reached = seeds whose learning curve reached {target:g}, to target = median "
             f"{summary.get('step_unit', 'steps')} until then" if reaching and target is not None
             else "")
  lines = [f"{summary.get('score', 'final validation loss').capitalize()} per condition "
           f"({about}; {better} is better; {summary['metric']} = median over seeds{failed}"
           f"{reached}):",
           head, "-" * len(head)]
  for name, s in summary["conditions"].items():
    lines.append(f"{name[:32]:<32} {s['n']:>4} {s['n_diverged']:>4} {s['mean']:>9.4g} "
                 f"[{s['ci95_low']:>9.4g},{s['ci95_high']:>9.4g}] {s['median']:>9.4g} "
                 f"{s['iqm']:>9.4g} [{s['iqm_ci95_low']:>9.4g},{s['iqm_ci95_high']:>9.4g}] "
                 f"{s['std']:>9.3g} {s['min']:>9.4g} {s['max']:>9.4g} "
                 f"{s['metric_median']:>9.4g}"
                 + (f" {s['n_failed'] if s.get('n_failed') is not None else '':>6}"
                    if failing else "")
                 + (f" {str(s.get('n_reached', '')) + '/' + str(s['n']):>8} "
                    f"{s.get('median_steps_to_target', math.nan):>10.4g}" if reaching else "")
                 + (f" {s['baseline']:>9.4g}" if per_condition and s.get("baseline") is not None
                    else ""))
  return "\n".join(lines)


def write(workdir: str, plan: SweepPlan, rows: list[dict], curves: dict[str, np.ndarray],
          summary: dict[str, Any]) -> None:
  """Writes results.csv, curves.npz and summary.json (and drops a partial table)."""
  records.write_csv(os.path.join(workdir, "results.csv"), rows, result_columns(plan))
  records.write_npz(os.path.join(workdir, "curves.npz"), **curves)
  records.write_json(os.path.join(workdir, "summary.json"), summary)
  partial = os.path.join(workdir, "results.partial.csv")
  if os.path.exists(partial):
    os.remove(partial)


_INT_COLUMNS = ("seed", "init_seed", "data_seed", "diverged_step")


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
    return [str(n) for n in self.curves["conditions"]]

  def column(self, condition: str, name: str) -> np.ndarray:
    """One column of results.csv over a condition's seeds."""
    return np.array([r[name] for r in self.rows if r["condition"] == condition])


def _typed_row(row: dict[str, str], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
  out: dict[str, Any] = {"condition": row["condition"]}
  for name in RESULT_COLUMNS[1:]:
    text = row.get(name, "nan")
    if name == "diverged":
      out[name] = text == "True"
    elif name in _INT_COLUMNS:
      out[name] = int(text)
    else:
      out[name] = records.read_exact(text)
  if row.get("perturbation"):  # the instability design's column
    out["perturbation"] = int(row["perturbation"])
  out.update(overrides.get(row["condition"], {}))
  return out


def load_results(workdir: str) -> SweepResults:
  """Reads a finished sweep's workdir; a one-line error if it is not one."""
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
