"""The report's tables: the summary as rendered, pairwise comparisons, formats.

The summary's statistics are computed once, by `lstm_init.report.summary.summarize`
when a sweep finishes; here they are only laid out (Markdown, HTML, LaTeX),
read from `ConditionSummary` under summary.json's own names.
Pairwise comparisons across conditions (and across workdirs) are computed
once, in `report.comparisons`, and laid out here.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from lstm_init.report.comparisons import Comparison, compared
from lstm_init.report.merged import Merged
from lstm_init.report.summary import ConditionSummary
from lstm_init.report.figures import finite_ok, grid_cell


SUMMARY_HEAD = ["condition", "n", "diverged (95% CI of rate)", "mean [95% CI]", "median",
                "IQM [95% CI]", "std", "min", "max"]


def fmt(v, digits=4):
  """A number in `digits` significant digits ("n/a" for None, NaN and inf)."""
  return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


def spread_known(s: ConditionSummary) -> bool:
  """Whether a condition has the 2 or more seeds (not diverged) a spread or an
  interval needs (older summaries wrote std 0 and a zero-width interval for one)."""
  return s.n - s.n_diverged >= 2


def with_interval(s: ConditionSummary, v, low, high) -> str:
  """"v [low, high]", or "v [n/a]" for a condition with fewer than 2 seeds (or
  base seeds: an interval left undefined)."""
  if not spread_known(s) or fmt(low) == "n/a" or fmt(high) == "n/a":
    return f"{fmt(v)} [n/a]"
  return f"{fmt(v)} [{fmt(low)}, {fmt(high)}]"


def n_cell(s: ConditionSummary) -> str:
  """The seeds run; for runs that are not independent seeds, the units the
  intervals resample and the effective n."""
  if s.resampled is None:
    return str(s.n)
  return f"{s.n} ({s.resampled}; effective n {fmt(s.n_effective, 3)})"


def summary_cells(name: str, s: ConditionSummary) -> list[str]:
  """The cells of one condition's row under SUMMARY_HEAD plus its median metric."""
  return [name, n_cell(s),
          f"{s.n_diverged} [{s.diverged_rate_low:.2f}, {s.diverged_rate_high:.2f}]",
          with_interval(s, s.mean, s.ci95_low, s.ci95_high), fmt(s.median),
          with_interval(s, s.iqm, s.iqm_ci95_low, s.iqm_ci95_high),
          fmt(s.std, 3) if spread_known(s) else "n/a", fmt(s.min), fmt(s.max),
          fmt(s.metric_median)]


def latex_table(m: Merged) -> str:
  """A booktabs table of the summary (needs \\usepackage{booktabs})."""
  esc = lambda s: str(s).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
  head = ["Condition", "$n$", "Diverged", "Mean [95\\% CI]", "Median", "IQM", "Std",
          f"Median {esc(m.metric_name)}"]
  lines = [r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule",
           " & ".join(head) + r" \\", r"\midrule"]
  for name, s in zip(m.conditions, m.summaries):
    lines.append(" & ".join([esc(name), esc(n_cell(s)), str(s.n_diverged),
                             with_interval(s, s.mean, s.ci95_low, s.ci95_high),
                             fmt(s.median), fmt(s.iqm),
                             fmt(s.std, 3) if spread_known(s) else "n/a",
                             fmt(s.metric_median)]) + r" \\")
  lines += [r"\bottomrule", r"\end{tabular}"]
  return "\n".join(lines) + "\n"


def oriented(m: Merged, x: np.ndarray) -> np.ndarray:
  """Scores turned so that lower is better (returns negated), for the comparisons."""
  return -x if m.higher else x


PAIRWISE_HEAD = ["A", "B", "seeds compared", "mean A - B [95% CI]", "median A - B [95% CI]",
                 "P(A better than B) [95% CI]", "t-test p", "rank test p", "Hedges g"]


def pairwise_table(m: Merged, comparisons: list[Comparison]) -> tuple[list, list]:
  """Every pair of conditions compared on the final score (A - B in its units;
  P(A better than B)); "n/a" where a side has fewer than 2 units.

  Args:
    m: the merged sweeps; comparisons: `comparisons.compare_all(m)`.
  Returns:
    (head, rows) under PAIRWISE_HEAD.
  """
  rows = []
  for c in comparisons:
    r = c.result
    f2 = lambda v: f"{v:.2f}"
    interval = lambda k, lo, hi, f=fmt: (f"{f(r[k])} [{f(r[lo])}, {f(r[hi])}]"
                                         if c.enough else "n/a")
    rows.append([c.a, c.b, compared(m, c), interval("mean_diff", "ci_low", "ci_high"),
                 interval("median_diff", "median_low", "median_high"),
                 interval("p_improvement", "p_low", "p_high", f2), fmt(r["t_p"], 3),
                 fmt(r["rank_p"], 3), fmt(r["hedges_g"], 3)])
  return PAIRWISE_HEAD, rows


def two_axis_grid(m: Merged) -> dict[str, Any] | None:
  """For a sweep over exactly two axes: the conditions laid out on a grid.

  Returns {"rows": (axis, values), "cols": (axis, values), "index": {(r, c): i}}
  with the numeric axis (if one is) as the columns, or None.
  """
  overrides = [s.overrides or {} for s in m.summaries]
  axes = sorted({k for o in overrides for k in o})
  if len(axes) != 2 or any(set(o) != set(axes) for o in overrides):
    return None
  numeric = [all(isinstance(o[a], (int, float)) and not isinstance(o[a], bool)
                 for o in overrides) for a in axes]
  row_axis, col_axis = (axes[1], axes[0]) if numeric[0] and not numeric[1] else axes
  values = lambda a: list(dict.fromkeys(o[a] for o in overrides))
  cols = values(col_axis)
  if all(isinstance(v, (int, float)) for v in cols):
    cols = sorted(cols)
  index = {(o[row_axis], o[col_axis]): i for i, o in enumerate(overrides)}
  return {"rows": (row_axis, values(row_axis)), "cols": (col_axis, cols), "index": index}


def grid_table(m: Merged, grid: dict[str, Any]) -> tuple[list, list]:
  """Median metric [25%, 75%] over seeds in each cell of a two-axis grid."""
  (row_axis, rows), (col_axis, cols) = grid["rows"], grid["cols"]
  head = [f"{row_axis} \\ {col_axis}"] + [str(c) for c in cols]
  out = []
  for r in rows:
    cells = [str(r)]
    for c in cols:
      x = grid_cell(m, grid, r, c)
      cells.append(f"{fmt(np.median(x), 3)} [{fmt(np.quantile(x, .25), 3)}, "
                   f"{fmt(np.quantile(x, .75), 3)}]" if x.size else "n/a")
    out.append(cells)
  return head, out


def md_table(head: list, rows: list[list]) -> str:
  """A Markdown table of `head` and `rows` (cells as strings)."""
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines)


def html_table(head: list, rows: list[list]) -> str:
  """An HTML table of `head` and `rows` (cells escaped)."""
  h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                 for r in rows)
  return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"
