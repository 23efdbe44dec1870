"""The report's figures, one function each, and the helpers the studies share.

Every `fig_*` takes the merged sweeps (`report.merged.Merged`) and an output folder,
writes `figures/<name>.png` and `.pdf`, and returns the PNG's relative path:
  distribution   final validation loss per condition, every seed a dot
  ecdf           empirical CDFs (performance profiles) of the final loss
  curves         validation loss over training: median and 25-75% / 10-90% bands
  per_timestep   loss at each position of a window (when the task has one)
  best_of_k      expected best final loss among k seeds (Dodge et al. 2019)
  grid           the metric against one axis of a two-axis sweep, a line per level
  improvement    matrix of P(row better than column) with bootstrap intervals
Scores are losses (lower is better) unless the sweep says `higher` (returns).
matplotlib loads on the first figure, not on import.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from lstm_init.core import stats
from lstm_init.report import layouts

FIGURE_FORMATS = ("png", "pdf")


def pyplot():
  """matplotlib.pyplot on the Agg backend (files only, no display).

  Returns:
    The `matplotlib.pyplot` module.
  """
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def finite_ok(x, diverged):
  """The values of seeds that did not diverge and are finite.

  Args:
    x: [seeds] values.
    diverged: [seeds] bool.

  Returns:
    [kept] values.
  """
  return x[(~diverged) & np.isfinite(x)]


def save(fig, out_dir: str, name: str) -> str:
  """Writes `figures/<name>` in every format, then closes the figure.

  Args:
    fig: a matplotlib figure.
    out_dir: the folder figures/ is made in.
    name: the file name without extension.

  Returns:
    The PNG's path relative to `out_dir`.
  """
  os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
  for fmt in FIGURE_FORMATS:
    fig.savefig(os.path.join(out_dir, "figures", f"{name}.{fmt}"), dpi=130,
                bbox_inches="tight")
  pyplot().close(fig)
  return os.path.join("figures", f"{name}.png")


def colors(n):
  """n distinct colours (tab10 up to 10, else tab20, repeating past 20).

  Args:
    n: how many.

  Returns:
    A list of n RGBA tuples.
  """
  cmap = pyplot().get_cmap("tab10" if n <= 10 else "tab20")
  return [cmap(i % cmap.N) for i in range(n)]


def log_if_wide(ax, values):
  """A log axis when positive values span more than a factor of 20.

  Args:
    ax: the axes whose y axis may become logarithmic.
    values: [n] values plotted on it (non-finite ones ignored).
  """
  v = values[np.isfinite(values)]
  if v.size and v.min() > 0 and v.max() / v.min() > 20:
    ax.set_yscale("log")


def draw_baselines(ax, m, vertical=False, label="no-learning baseline"):
  """The no-learning baseline: one grey line, or one per condition in its colour
  when the conditions' tasks differ. Nothing when no baseline is known.

  Args:
    ax: the axes.
    m: the merged sweeps.
    vertical: vertical lines (a score on the x axis) instead of horizontal.
    label: the legend label, or None.
  """
  line = ax.axvline if vertical else ax.axhline
  if not np.isfinite(np.asarray(m.baselines, float)).any():
    return  # no baseline known (e.g. reinforcement learning)
  if m.baseline is not None:
    line(m.baseline, ls="--", color="grey", lw=1, label=label)
    return
  for i, (b, col) in enumerate(zip(m.baselines, colors(len(m.conditions)))):
    line(b, ls="--", color=col, lw=1, label=f"{label} (per condition)" if label and i == 0
         else None)


def fig_distribution(m, out_dir):
  """Final score per condition: a box of quartiles and every seed a dot.

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  n = len(m.conditions)
  fig, ax = plt.subplots(figsize=(max(5, 1.2 * n + 2), 4))
  rng = np.random.default_rng(0)  # horizontal jitter of the dots only
  for i, (x, div, col) in enumerate(zip(m.final, m.diverged, colors(n))):
    ok = finite_ok(x, div)
    if ok.size:
      ax.boxplot([ok], positions=[i], widths=0.5, showfliers=False,
                 medianprops={"color": "k"})
      ax.scatter(i + rng.uniform(-0.18, 0.18, ok.size), ok, s=12, color=col, alpha=0.8,
                 zorder=3)
    if div.any():
      ax.scatter([i] * int(div.sum()), [ax.get_ylim()[1]] * int(div.sum()), marker="x",
                 color="r", label="diverged" if i == 0 else None)
  draw_baselines(ax, m)
  log_if_wide(ax, np.concatenate([finite_ok(x, d) for x, d in zip(m.final, m.diverged)]
                                  + [np.array(m.baselines)]))
  ax.set_xticks(range(n), m.conditions, rotation=30, ha="right")
  ax.set_ylabel(m.score)
  ax.set_title("Final score per seed (box: quartiles)")
  if ax.get_legend_handles_labels()[0]:
    ax.legend(loc="best", fontsize=8)
  return save(fig, out_dir, "distribution")


def fig_ecdf(m, out_dir):
  """Empirical CDFs of the final loss, or performance profiles of a return.

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  every = np.concatenate([finite_ok(x, d) for x, d in zip(m.final, m.diverged)])
  if every.size:
    span = max(float(every.max() - every.min()), 1e-9)
    taus = np.linspace(every.min() - 0.02 * span, every.max(), 400)
  for name, x, div, col in zip(m.conditions, m.final, m.diverged,
                               colors(len(m.conditions))):
    ok = np.sort(finite_ok(x, div))
    if ok.size and m.higher:  # rliable's profile: the fraction of runs above tau
      ax.step(taus, stats.performance_profile(np.where(div, -np.inf, x), taus), where="post",
              label=name, color=col)
    elif ok.size:
      ax.step(ok, np.arange(1, ok.size + 1) / len(x), where="post", label=name, color=col)
  draw_baselines(ax, m, vertical=True, label=None)
  ax.set_xlabel(m.score + (" (tau)" if m.higher else ""))
  ax.set_ylabel("fraction of seeds with score > tau" if m.higher else
                "fraction of seeds with loss <= x")
  ax.set_title("Performance profile (fraction of seeds above tau)" if m.higher else
               "Performance profile (empirical CDF)")
  ax.legend(fontsize=8)
  return save(fig, out_dir, "ecdf")


def band(ax, xs, curves, label, col):
  """Median line with 25-75% and 10-90% bands over the rows of `curves`.

  Args:
    ax: the axes.
    xs: [points] x values.
    curves: [rows, points] values (NaN ignored).
    label, col: the line's legend label and colour.
  """
  with np.errstate(all="ignore"):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)
      med = np.nanmedian(curves, axis=0)
      q = np.nanquantile(curves, [0.1, 0.25, 0.75, 0.9], axis=0)
  ax.plot(xs, med, color=col, label=label)
  ax.fill_between(xs, q[1], q[2], color=col, alpha=0.25, lw=0)
  ax.fill_between(xs, q[0], q[3], color=col, alpha=0.1, lw=0)


def fig_curves(m, out_dir, grid=None):
  """One panel; for a two-axis sweep (`tables.two_axis_grid`), one panel per value
  of its column axis with a line per row value, so many conditions stay readable.

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.
    grid: `tables.two_axis_grid(m)`, or None for one panel.

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  if grid is None:
    panels = [(None, list(range(len(m.conditions))))]
    labels = m.conditions
  else:
    (row_axis, rows), (col_axis, cols) = grid["rows"], grid["cols"]
    panels = [(f"{col_axis}={c}", [grid["index"][(r, c)] for r in rows
                                   if (r, c) in grid["index"]]) for c in cols]
    labels = {grid["index"][k]: f"{row_axis}={k[0]}" for k in grid["index"]}
  fig, axes = plt.subplots(1, len(panels), figsize=(6.5 if grid is None else
                                                    3.2 * len(panels) + 1, 4),
                           squeeze=False, sharey=True)
  palette = colors(len(m.conditions) if grid is None else len(grid["rows"][1]))
  for ax, (title, members) in zip(axes[0], panels):
    for k, ci in enumerate(members):
      st, c = m.steps[ci], m.curves[ci]
      e = int((st >= 0).sum())
      band(ax, st[:e], c[:, :e], labels[ci], palette[ci if grid is None else k])
    draw_baselines(ax, m, label="baseline")
    ax.set_xlabel(m.step_unit)
    if title:
      ax.set_title(title, fontsize=9)
    if not m.higher:
      ax.set_yscale("log")
  rows = m.curve_rows
  if m.higher:
    axes[0][0].set_ylabel(m.score + " (learning-curve evaluations)")
  else:
    axes[0][0].set_ylabel("validation loss" + (f" (first {rows[0]} validation rows)"
                                               if len(rows) == 1 and rows[0] > 0 else ""))
  axes[0][-1].legend(fontsize=8)
  fig.suptitle("Learning curves: median, 25-75% and 10-90% of seeds")
  return save(fig, out_dir, "curves")


def fig_per_timestep(m, out_dir):
  """Validation loss at each position of a window, median and bands over seeds.

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.

  Returns:
    The PNG's relative path, or None when no condition has a loss per position.
  """
  pts = [p for p in m.per_timestep if np.isfinite(p).sum(axis=-1).max(initial=0) > 1]
  if not pts:
    return None
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for name, p, col in zip(m.conditions, m.per_timestep, colors(len(m.conditions))):
    if np.isfinite(p).sum(axis=-1).max(initial=0) > 1:
      band(ax, np.arange(p.shape[-1]), p, name, col)
  draw_baselines(ax, m, label="baseline")
  ax.set_xlabel("position within the window")
  ax.set_ylabel("validation loss at that position")
  ax.set_title("Loss per timestep (median and bands over seeds)")
  ax.legend(fontsize=8)
  return save(fig, out_dir, "per_timestep")


def fig_best_of_k(m, out_dir):
  """Expected best final score among k seeds, for k from 1 to the independent
  seeds run (`layouts.independent_runs`: the base seeds of an instability condition).

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, x, div, col, layout in zip(m.conditions, m.final, m.diverged,
                                       colors(len(m.conditions)), m.layouts):
    ok = finite_ok(x, div)
    if ok.size:
      ks = np.arange(1, layouts.independent_runs(layout, len(x)) + 1)
      best = (-stats.expected_best_of_k(-ok, ks) if m.higher
              else stats.expected_best_of_k(ok, ks))
      ax.plot(ks, best, label=name, color=col)
  ax.set_xscale("log")
  ax.set_xlabel("k (seeds tried)")
  ax.set_ylabel(f"expected best {m.score} among k")
  ax.set_title("Expected best of k (Dodge et al. 2019)")
  ax.legend(fontsize=8)
  return save(fig, out_dir, "best_of_k")


def grid_cell(m, grid, row, col) -> np.ndarray:
  """The metric of a two-axis grid's cell over its non-diverged seeds (empty if none).

  Args:
    m: the merged sweeps.
    grid: `tables.two_axis_grid(m)`.
    row, col: the cell's values of the row and column axes.

  Returns:
    [seeds] finite metrics.
  """
  i = grid["index"].get((row, col))
  return np.array([]) if i is None else finite_ok(m.metric[i], m.diverged[i])


def fig_grid(m, out_dir, grid):
  """The metric against the grid's column axis, one line per row value (median and
  25-75% band over seeds).

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.
    grid: `tables.two_axis_grid(m)`.

  Returns:
    The PNG's relative path.
  """
  (row_axis, rows), (col_axis, cols) = grid["rows"], grid["cols"]
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6.5, 4))
  numeric = all(isinstance(c, (int, float)) for c in cols)
  xs = np.asarray(cols, float) if numeric else np.arange(len(cols))
  for r, col in zip(rows, colors(len(rows))):
    ok = [grid_cell(m, grid, r, c) for c in cols]
    med = np.array([np.median(x) if x.size else np.nan for x in ok])
    q = np.array([np.quantile(x, [.25, .75]) if x.size else [np.nan] * 2 for x in ok])
    ax.plot(xs, med, marker="o", color=col, label=f"{row_axis}={r}")
    ax.fill_between(xs, q[:, 0], q[:, 1], color=col, alpha=0.2, lw=0)
  if not numeric:
    ax.set_xticks(xs, [str(c) for c in cols])
  ax.set_xlabel(col_axis)
  ax.set_ylabel(f"{m.metric_name} (median, 25-75% of seeds)")
  ax.set_title(f"{m.metric_name} by {col_axis} and {row_axis}")
  ax.legend(fontsize=8)
  return save(fig, out_dir, "grid")


def fig_improvement(m, out_dir, matrices):
  """The matrix of P(row beats column) with its bootstrap intervals.

  Args:
    m: the merged sweeps (`merged.Merged`).
    out_dir: the folder whose figures/ it is written in.
    matrices: `comparisons.improvement_matrix`: (estimate, low, high), each
      [conditions, conditions].

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  mat, lo, hi = matrices
  n = len(m.conditions)
  fig, ax = plt.subplots(figsize=(1.3 * n + 3, 1.1 * n + 2))
  im = ax.imshow(mat, vmin=0, vmax=1, cmap="RdBu_r")
  for i in range(n):
    for j in range(n):
      if i != j and np.isfinite(mat[i, j]):
        ax.text(j, i, f"{mat[i, j]:.2f}\n[{lo[i, j]:.2f}, {hi[i, j]:.2f}]", ha="center",
                va="center", fontsize=7)
  ax.set_xticks(range(n), m.conditions, rotation=30, ha="right")
  ax.set_yticks(range(n), m.conditions)
  ax.set_title("P(row better than column): seed by seed where paired,\nelse over every pair "
               "of runs (95% bootstrap interval)", fontsize=9)
  fig.colorbar(im, ax=ax, shrink=0.8)
  return save(fig, out_dir, "improvement")
