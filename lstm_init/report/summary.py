"""The summary of a sweep: one vocabulary from `summary.json` to the tables.

`ConditionSummary` names every statistic of one condition exactly as
`summary.json` stores it and as the report's tables read it. `summarize`
computes them once, when a sweep finishes (the engine calls it and writes the
result); `summary_table` prints them for the log.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from lstm_init.core import clustered, stats
from lstm_init.report import layouts

# What a condition's task contributes to its summary (the experiment's own description).
TASK_FIELDS = ("task", "metric", "baseline", "baseline_note", "first_k", "lower_is_better",
               "score", "step_unit", "steps_per_update", "failure_line", "target")


@dataclasses.dataclass(frozen=True)
class ConditionSummary:
  """Statistics of one condition's final validation scores over its non-diverged seeds.

  The field names are the keys of `summary.json["conditions"][name]`.
  """

  n: int                          # seeds run
  n_diverged: int                 # seeds whose loss became non-finite or exploded
  diverged_rate_low: float        # 95% interval of the divergence rate (Wilson)
  diverged_rate_high: float
  mean: float
  std: float
  median: float
  iqm: float                      # interquartile mean
  min: float
  max: float
  ci95_low: float                 # bootstrap interval of the mean
  ci95_high: float
  iqm_ci95_low: float             # percentile bootstrap of the IQM (rliable)
  iqm_ci95_high: float
  n_failed: int | None            # seeds past the task's failure line (None: no line)
  metric_mean: float              # the task's own metric (e.g. r2, accuracy)
  metric_median: float
  early_median: float             # loss over the first `first_k` positions of a window
  late_median: float              # ... and over the rest (NaN: scored at one step)
  overrides: dict[str, Any]       # the swept fields' values
  task: str = ""
  metric: str = "metric"
  baseline: float | None = None
  baseline_note: str = ""
  first_k: int = 1
  lower_is_better: bool = True
  score: str = "final validation loss"
  step_unit: str = "training step"
  steps_per_update: int = 1
  failure_line: float | None = None
  target: float | None = None
  n_reached: int | None = None    # seeds whose curve reached `target`
  median_steps_to_target: float | None = None
  variance_components: dict[str, float] | None = None   # the crossed design
  instability: dict[str, float] | None = None           # the instability design
  resampled: str | None = None    # runs that are not independent seeds: the units the
                                  # intervals resample ("8 base seeds", "4 x 4 init x data seeds")
  n_effective: float | None = None  # ... and the independent seeds they are worth

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "ConditionSummary":
    """From `summary.json`'s entry (older workdirs lack some fields: NaN or None).

    An undefined number is null in the file and NaN here (older files wrote NaN).
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {k: v for k, v in d.items() if k in known}
    for name, f in known.items():
      if name not in values and f.default is dataclasses.MISSING:
        values[name] = None if name in ("n_failed",) else {} if name == "overrides" else math.nan
      elif values.get(name, 0) is None and f.type == "float":
        values[name] = math.nan
    for name in ("variance_components", "instability"):
      if isinstance(values.get(name), dict):
        values[name] = {k: math.nan if v is None else v for k, v in values[name].items()}
    return cls(**values)

  def to_dict(self) -> dict[str, Any]:
    """The `summary.json` entry (fields that do not apply left out)."""
    out = dataclasses.asdict(self)
    for name in ("n_reached", "median_steps_to_target", "variance_components", "instability",
                 "resampled", "n_effective"):
      if out[name] is None:
        del out[name]
    return out


@dataclasses.dataclass(frozen=True)
class ScoredCondition:
  """What `summarize` needs to know of one condition."""

  name: str
  overrides: dict[str, Any]
  design: str                     # "seeds", "crossed" or "instability"
  task: dict[str, Any]            # TASK_FIELDS of its experiment


def steps_to_target(curve: np.ndarray, steps: np.ndarray, target: float,
                    higher: bool) -> np.ndarray:
  """Per run: the first learning-curve step whose score reaches `target` (inf: never).

  Args:
    curve: [runs, evaluations] scores.
    steps: [evaluations] steps of the evaluations (-1 pads missing evaluations).
    target: the score to reach.
    higher: whether higher scores are better.

  Returns:
    [runs] steps (float; inf where a run never reached the target).
  """
  e = int((steps >= 0).sum())
  curve, steps = curve[:, :e], steps[:e]
  reached = (curve >= target) if higher else (curve <= target)
  return np.where(reached.any(axis=1), steps[np.argmax(reached, axis=1)], np.inf)


def summarize(conditions: Sequence[ScoredCondition], rows: list[dict], seed: int,
              curves: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
  """The `summary.json` of a sweep.

  Per condition: statistics of the final evaluation loss over non-diverged seeds
  (and, given the curves and a task's `target`, how long runs took to reach it).
  Each condition carries its own task's description, baseline and metric; the
  top-level fields hold them when every condition shares one task, and None
  (`"task": "per condition"`) when a sweep varies the task.

  Args:
    conditions: the sweep's conditions, in order.
    rows: `results.csv` rows (dicts with `condition`, `final_eval_loss`, ...).
    seed: the sweep's seed (for the bootstrap draws).
    curves: `curves.npz` arrays (`eval_loss` [condition, seed, evaluation], `steps`).

  Returns:
    The summary as a JSON-ready dict: the task fields and `conditions` (name ->
    `ConditionSummary.to_dict()`).
  """
  per_task = [dict(c.task) for c in conditions]
  shared = all(p == per_task[0] for p in per_task)
  out = dict(per_task[0]) if shared else {
      "task": "per condition", "metric": per_task[0]["metric"] if all(
          p["metric"] == per_task[0]["metric"] for p in per_task) else "metric",
      "baseline": None, "baseline_note": "per condition", "first_k": per_task[0]["first_k"],
      **{k: per_task[0][k] for k in ("lower_is_better", "score", "step_unit",
                                     "steps_per_update", "failure_line", "target")}}
  out["conditions"] = {}
  for ci, c in enumerate(conditions):
    task = per_task[ci]
    mine = [r for r in rows if r["condition"] == c.name]
    ok_rows = [r for r in mine if not r["diverged"]]
    ok = np.array([r["final_eval_loss"] for r in ok_rows])
    d = stats.describe(ok)
    comps = crossed_components(mine, seed) if c.design == "crossed" else None
    intervals = (independent_intervals(ok, seed) if c.design == "seeds" else
                 clustered_intervals(ok, ok_rows, c.design, comps, seed))
    line = task["failure_line"]
    n_failed = (None if line is None else
                int(np.sum(ok > line) if task["lower_is_better"] else np.sum(ok < line)))
    metric = np.array([r["final_eval_metric"] for r in ok_rows])
    n_div = sum(r["diverged"] for r in mine)
    fail = stats.failure_rate(int(n_div), len(mine))
    reach = {}
    if curves is not None and task["target"] is not None:
      took = steps_to_target(curves["eval_loss"][ci, :len(mine)], curves["steps"][ci],
                             task["target"], not task["lower_is_better"]) * task["steps_per_update"]
      took = took[~np.array([r["diverged"] for r in mine], bool)]
      # the median over every run, those that never reached it counting as infinite
      reach = {"n_reached": int(np.isfinite(took).sum()),
               "median_steps_to_target": float(np.median(took)) if took.size else math.nan}
    summary = ConditionSummary(
        n=len(mine), n_diverged=int(n_div), diverged_rate_low=fail["low"],
        diverged_rate_high=fail["high"],
        **{k: d.get(k, math.nan) for k in ("mean", "std", "median", "iqm", "min", "max")},
        **intervals, n_failed=n_failed,
        metric_mean=float(metric.mean()) if metric.size else math.nan,
        metric_median=float(np.median(metric)) if metric.size else math.nan,
        early_median=_finite_median(np.array([r["early_eval_loss"] for r in ok_rows])),
        late_median=_finite_median(np.array([r["late_eval_loss"] for r in ok_rows])),
        overrides=dict(c.overrides), **task, **reach,
        variance_components=comps,
        instability=instability_components(mine, seed) if c.design == "instability" else None)
    out["conditions"][c.name] = summary.to_dict()
  return out


def independent_intervals(ok: np.ndarray, seed: int) -> dict[str, float]:
  """The intervals of independent seeds: percentile bootstraps of the mean and of
  the IQM (rliable's: one task, one stratum); NaN for fewer than 2 seeds."""
  low, high = stats.bootstrap_ci(ok, key_or_seed=seed)
  iqm_low, iqm_high = stats.bootstrap_ci(ok, stats.iqm, key_or_seed=seed, n_resamples=2000)
  return {"ci95_low": low, "ci95_high": high, "iqm_ci95_low": iqm_low,
          "iqm_ci95_high": iqm_high}


def clustered_intervals(ok: np.ndarray, ok_rows: list[dict], design: str,
                        comps: dict[str, float] | None, seed: int) -> dict[str, Any]:
  """The intervals of runs that are not independent seeds, resampling their units
  (`clustered.cluster_bootstrap_ci`): base seeds whole (instability), or init and
  data seeds independently (crossed); with what was resampled and the effective n.

  Args:
    ok: [runs] the final scores of the runs that did not diverge; ok_rows: their rows.
    design: "instability" or "crossed"; comps: the crossed grid's variance components.
    seed: the bootstrap's seed.
  Returns:
    The interval fields of `ConditionSummary`, "resampled" and "n_effective".
  """
  factors = layouts.factors(design, ok_rows)
  low, high = clustered.cluster_bootstrap_ci(ok, factors, "mean", key_or_seed=seed)
  iqm_low, iqm_high = clustered.cluster_bootstrap_ci(ok, factors, "iqm", key_or_seed=seed,
                                                     n_resamples=2000)
  out = {"ci95_low": low, "ci95_high": high, "iqm_ci95_low": iqm_low, "iqm_ci95_high": iqm_high}
  sizes = [int(np.unique(f).size) for f in factors]
  if design == "instability":
    eff = clustered.design_effect(ok, factors[0])["n_effective"] if ok.size else math.nan
    return out | {"resampled": f"{sizes[0]} base seed{'s' if sizes[0] != 1 else ''}",
                  "n_effective": eff}
  if min(sizes, default=0) < 2:  # one init seed (or data seed): independent runs of the other
    return out
  eff = (clustered.crossed_effective_n(comps["var_init"], comps["var_data"],
                                       comps["var_residual"], *sizes) if comps else math.nan)
  return out | {"resampled": f"{sizes[0]} x {sizes[1]} init x data seeds", "n_effective": eff}


def _finite_median(a: np.ndarray) -> float:
  """Median of the finite values (NaN when there are none: e.g. early-position loss of
  a task scored only at the last step)."""
  a = a[np.isfinite(a)]
  return float(np.median(a)) if a.size else math.nan


def crossed_components(rows: list[dict], seed: int) -> dict[str, float]:
  """Variance components of the final validation loss over an init x data grid
  (`stats.variance_components`; {} when the grid is incomplete or has one row)."""
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
  """A plain-text table of a `summary.json` dict, for the log."""
  conds = {n: ConditionSummary.from_dict(s) for n, s in summary["conditions"].items()}
  shared = summary["baseline"] is not None
  per_condition = not shared and any(s.baseline is not None for s in conds.values())
  failing = any(s.n_failed is not None for s in conds.values())
  reaching = any(s.n_reached is not None for s in conds.values())
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
  for name, s in conds.items():
    spread = s.n - s.n_diverged >= 2  # a std and an interval need two seeds
    num = lambda v, spec=".4g", shown=True: f"{v:>9{spec}}" if shown else f"{'n/a':>9}"
    lines.append(f"{name[:32]:<32} {s.n:>4} {s.n_diverged:>4} {s.mean:>9.4g} "
                 f"[{num(s.ci95_low, shown=spread)},{num(s.ci95_high, shown=spread)}] "
                 f"{s.median:>9.4g} {s.iqm:>9.4g} "
                 f"[{num(s.iqm_ci95_low, shown=spread)},{num(s.iqm_ci95_high, shown=spread)}] "
                 f"{num(s.std, '.3g', spread)} {s.min:>9.4g} {s.max:>9.4g} "
                 f"{s.metric_median:>9.4g}"
                 + (f" {s.n_failed if s.n_failed is not None else '':>6}" if failing else "")
                 + (f" {str(s.n_reached if s.n_reached is not None else '') + '/' + str(s.n):>8} "
                    f"{_or_nan(s.median_steps_to_target):>10.4g}" if reaching else "")
                 + (f" {s.baseline:>9.4g}" if per_condition and s.baseline is not None
                    else ""))
  return "\n".join(lines + summary_notes(conds))


def summary_notes(conds: Mapping[str, ConditionSummary]) -> list[str]:
  """The lines under a summary table: runs that are not independent seeds, and
  conditions with too few seeds for a spread, an interval or a test."""
  out = []
  for name, s in conds.items():
    if s.resampled is None:
      continue
    eff = _or_nan(s.n_effective)
    out.append(f"{name}: {s.n} runs that are not independent seeds; the intervals resample "
               f"{s.resampled} (effective n {f'{eff:.3g}' if math.isfinite(eff) else 'n/a'})"
               + ("." if math.isfinite(s.ci95_low) else
                  "; an interval needs at least 2 of them."))
  few = [f"{name} ({s.n - s.n_diverged})" for name, s in conds.items()
         if s.n - s.n_diverged < 2]
  if few:
    out.append("n/a: a spread, an interval or a test needs at least 2 seeds that did not "
               "diverge; " + ", ".join(few) + " had fewer.")
  return out


def _or_nan(v: float | None) -> float:
  return math.nan if v is None else v
