"""The report's sections, one builder each.

Every builder takes the merged sweeps (`Merged`) and returns the section's
blocks, `(kind, content)` pairs rendered by `report.document`: "h1"/"h2"
(a heading), "p" (a paragraph), "table" ((head, rows)), "fig" (a PNG path
relative to the report). A section that does not apply returns [].
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from lstm_init.report import comparisons, figures, layouts, tables
from lstm_init.report.figures import finite_ok
from lstm_init.report.merged import Merged
from lstm_init.report.summary import ConditionSummary, summary_notes
from lstm_init.report.tables import fmt

Block = tuple[str, Any]

READING_GUIDE = (
    "How to read this report. Each dot in the distribution is one seed: the spread is what "
    "luck alone does to this configuration. The 95% interval is a bootstrap interval of the "
    "mean over seeds. Whether two conditions differ is not read from overlapping intervals "
    "(two intervals can overlap while the difference is clear; Schenker and Gentleman "
    "2001) but from the pairwise table, whose test is paired where the two conditions' "
    "seeds share their random streams. The IQM (interquartile mean) and its bootstrap "
    "interval are the robust aggregate of Agarwal et al. (2021). P(A better than B) is the "
    "chance that a seed of one condition beats a seed of the other (0.5 = no difference). "
    "The expected best of k shows how much of a 'best seed' is just having tried more "
    "seeds: if the curve keeps improving with k, the best of many seeds is an optimistic, "
    "selected number, not a property of the method. Diverged seeds (NaN or exploding loss) "
    "are counted, not averaged.")


def header(m: Merged, workdirs: Sequence[str], environment: dict[str, Any]) -> list[Block]:
  """Title, task, seeds, baseline, failure line and sources."""
  failing = [s.failure_line for s in m.summaries if s.n_failed is not None]
  baselines = np.asarray(m.baselines, float)
  if m.baseline is not None and np.isfinite(m.baseline):
    about = f" No-learning baseline: {m.baseline:.4g} ({m.baseline_note})."
  elif np.isfinite(baselines).any():
    about = (" No-learning baseline per condition: "
             + ", ".join(f"{n} {b:.4g}" for n, b in zip(m.conditions, m.baselines)) + ".")
  else:
    about = ""
  failed = (" Failed to learn: a final score " + ("below" if m.higher else "above") + " "
            + ", ".join(sorted({f"{line:g}" for line in failing if line is not None})) + "."
            if failing else "")
  versions = environment.get("versions", {})
  return [("h1", "lstm_init report"),
          ("p", f"Task: {m.task}. Seeds per condition: {', '.join(str(len(x)) for x in m.final)}."
                + about + failed),
          ("p", f"Sources: {', '.join(workdirs)}. JAX {versions.get('jax', '?')} on "
                f"{environment.get('backend', '?')} ({environment.get('device_count', '?')} "
                "device(s)).")]


def _reaching(m: Merged) -> tuple[bool, str, set]:
  targets = {s.target for s in m.summaries if s.n_reached is not None}
  return bool(targets), (f"{next(iter(targets)):g}" if len(targets) == 1 else "its target"), targets


def _positional(s: ConditionSummary) -> bool:
  """A task scored at every position of a window (early and late losses differ)."""
  return all(v is not None and np.isfinite(v) for v in (s.early_median, s.late_median))


def summary(m: Merged) -> list[Block]:
  """The summary table (with failures, time to target and early/late losses where
  they apply), its LaTeX twin's name and the reading guide."""
  failing = any(s.n_failed is not None for s in m.summaries)
  reaching, target, targets = _reaching(m)
  positional = any(_positional(s) for s in m.summaries)
  head = tables.SUMMARY_HEAD + [f"median {m.metric_name}"] + (
      ["failed to learn"] if failing else []) + (
      [f"reached {target}", f"median {m.step_unit} to {target}"] if reaching else []) + (
      [f"median loss, first {m.first_k} positions", "median loss, other positions"]
      if positional else [])

  def to_target(s: ConditionSummary) -> list[str]:
    if s.n_reached is None:
      return ["n/a", "n/a"]
    took = s.median_steps_to_target
    took = fmt(took) if took is not None and np.isfinite(took) else "not by most"
    own = f" ({s.target:g})" if len(targets) > 1 else ""
    return [f"{s.n_reached}/{s.n}{own}", took]

  rows = [tables.summary_cells(name, s)
          + ([str(s.n_failed) if s.n_failed is not None else "n/a"] if failing else [])
          + (to_target(s) if reaching else [])
          + ([fmt(s.early_median), fmt(s.late_median)] if positional else [])
          for name, s in zip(m.conditions, m.summaries)]
  notes = summary_notes(dict(zip(m.conditions, m.summaries)))
  return ([("h2", m.score.capitalize() + (" (higher is better)" if m.higher else "")),
           ("table", (head, rows))] + [("p", line) for line in notes]
          + [("p", "The same table in LaTeX (booktabs): table.tex."), ("p", READING_GUIDE)])


def every_seed(m: Merged, out_dir: str, grid) -> list[Block]:
  """Every seed's final score, the performance profiles and the learning curves."""
  return [("h2", "Every seed"), ("fig", figures.fig_distribution(m, out_dir)),
          ("h2", "Performance profiles"), ("fig", figures.fig_ecdf(m, out_dir)),
          ("h2", "Learning curves"), ("fig", figures.fig_curves(m, out_dir, grid))]


def per_position(m: Merged, out_dir: str) -> list[Block]:
  """The loss at each position of a window, and the first positions against the rest."""
  fig = figures.fig_per_timestep(m, out_dir)
  if not fig:
    return []
  k = m.first_k
  head = ["condition", f"first {k} positions: median [q25, q75]",
          "other positions: median [q25, q75]", "first / other"]
  q = lambda a: f"{fmt(np.median(a))} [{fmt(np.quantile(a, .25))}, {fmt(np.quantile(a, .75))}]"
  rows = []
  for name, e, l, div in zip(m.conditions, m.early, m.late, m.diverged):
    e, l = finite_ok(e, div), finite_ok(l, div)
    if e.size and l.size:
      rows.append([name, q(e), q(l), fmt(np.median(e) / np.median(l), 3)])
  return [("h2", "Loss per position in the window"), ("fig", fig),
          ("p", f"Validation loss over the first {k} positions of each window (right "
                "after a reset, or after the carried state) against the other positions:"),
          ("table", (head, rows))]


def grid_of_two_axes(m: Merged, out_dir: str, grid) -> list[Block]:
  """For a sweep over two axes: the metric in each cell, as a table and a figure."""
  if grid is None:
    return []
  (row_axis, _), (col_axis, _) = grid["rows"], grid["cols"]
  return [("h2", f"{m.metric_name.capitalize()} by {row_axis} and {col_axis}"),
          ("p", f"Median {m.metric_name} over seeds [25%, 75%] in each cell."),
          ("table", tables.grid_table(m, grid)),
          ("fig", figures.fig_grid(m, out_dir, grid))]


def best_of_k(m: Merged, out_dir: str) -> list[Block]:
  """The expected best of k seeds (k up to the independent seeds each condition ran)."""
  lines = []
  for name, x, layout in zip(m.conditions, m.final, m.layouts):
    k = layouts.independent_runs(layout, len(x))
    if k < len(x):
      lines.append(f"{name}: k stops at {k}, the independent seeds among its {len(x)} runs "
                   + ("(its base seeds: the other runs are their one-bit neighbours)."
                      if layout.design == "instability" else
                      "(runs with distinct init and data seeds in its crossed grid)."))
  return ([("h2", "Expected best of k seeds"), ("fig", figures.fig_best_of_k(m, out_dir))]
          + [("p", line) for line in lines])


def _interval(v: dict[str, float], s: str) -> str:
  return (f"{v[s]:.2f} [{v[s + '_low']:.2f}, {v[s + '_high']:.2f}]" if s in v
          else "n/a (one base seed, or no spread)")


def variance_components(m: Merged) -> list[Block]:
  """The crossed design's split of the variance into init, data order and the rest."""
  comps = [(name, s.variance_components) for name, s in zip(m.conditions, m.summaries)
           if s.variance_components]
  if not comps:
    return []
  head = ["condition", "init share [95% CI]", "data-order share [95% CI]",
          "interaction + residual [95% CI]", "total variance"]
  rows = [[name] + [_interval(v, s) for s in ("init", "data", "residual")]
          + [fmt(v["var_init"] + v["var_data"] + v["var_residual"], 3)] for name, v in comps]
  return [("h2", "Where the variance comes from"),
          ("p", "A crossed grid of initialization seeds by data-order seeds, split by a "
                "two-way random-effects ANOVA into the share due to the initialization, "
                "to the data order, and to their interaction (with bootstrap intervals "
                "resampling both seed sets)."),
          ("table", (head, rows))]


def instability(m: Merged) -> list[Block]:
  """The instability design's split into what a base seed decides and what one bit moves."""
  inst = [(name, s.instability) for name, s in zip(m.conditions, m.summaries) if s.instability]
  if not inst:
    return []
  head = ["condition", "base seeds x runs", "std, one-bit flips", "std, base seeds",
          "instability share [95% CI]", "seed share [95% CI]"]
  rows = [[name, f"{v['base_seeds']} x {v['perturbations']}", fmt(v["std_instability"], 3),
           fmt(math.sqrt(v["var_seed"]), 3) if "var_seed" in v else "n/a",
           _interval(v, "instability"), _interval(v, "seed")] for name, v in inst]
  return [("h2", "Numerical instability: one bit against a seed"),
          ("p", "Every run of a base seed shares all its random streams; each run but "
                "the first flips the lowest bit of one initial parameter. A one-way "
                "random-effects ANOVA splits the variance of the final validation loss "
                "into the share the base seed decides (initialization and data order) "
                "and the share a one-ulp change moves (instability), with bootstrap "
                "intervals resampling base seeds."),
          ("table", (head, rows))]


def pairwise(m: Merged, out_dir: str) -> list[Block]:
  """Every pair of conditions: differences, P(A better than B), tests, effect sizes,
  paired where the seeds share their streams; the table and the figure from one bootstrap."""
  if len(m.conditions) < 2:
    return []
  cs = comparisons.compare_all(m)
  matrices = comparisons.improvement_matrix(cs, len(m.conditions))
  return ([("h2", "Pairwise comparisons"), ("table", tables.pairwise_table(m, cs))]
          + [("p", line) for line in comparisons.notes(m, cs)]
          + [("fig", figures.fig_improvement(m, out_dir, matrices))])
