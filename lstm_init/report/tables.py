"""The report's tables: the summary as rendered, pairwise comparisons, formats.

The summary's statistics are computed once, by `lstm_init.report.summary.summarize`
when a sweep finishes; here they are only laid out (Markdown, HTML, LaTeX),
read from `ConditionSummary` under summary.json's own names.
Pairwise comparisons across conditions (and across workdirs) are computed
here, where the conditions meet.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from lstm_init.core import stats
from lstm_init.report.merged import Merged
from lstm_init.report.summary import ConditionSummary
from lstm_init.report.figures import finite_ok, grid_cell


SUMMARY_HEAD = ["condition", "n", "diverged (95% CI of rate)", "mean [95% CI]", "median",
                "IQM [95% CI]", "std", "min", "max"]


def fmt(v, digits=4):
  """A number in `digits` significant digits ("n/a" for None, NaN and inf)."""
  return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


def summary_cells(name: str, s: ConditionSummary) -> list[str]:
  """The cells of one condition's row under SUMMARY_HEAD plus its median metric."""
  return [name, str(s.n),
          f"{s.n_diverged} [{s.diverged_rate_low:.2f}, {s.diverged_rate_high:.2f}]",
          f"{fmt(s.mean)} [{fmt(s.ci95_low)}, {fmt(s.ci95_high)}]", fmt(s.median),
          f"{fmt(s.iqm)} [{fmt(s.iqm_ci95_low)}, {fmt(s.iqm_ci95_high)}]", fmt(s.std, 3),
          fmt(s.min), fmt(s.max), fmt(s.metric_median)]


def latex_table(m: Merged) -> str:
  """A booktabs table of the summary (needs \\usepackage{booktabs})."""
  esc = lambda s: str(s).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
  head = ["Condition", "$n$", "Diverged", "Mean [95\\% CI]", "Median", "IQM", "Std",
          f"Median {esc(m.metric_name)}"]
  lines = [r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule",
           " & ".join(head) + r" \\", r"\midrule"]
  for name, s in zip(m.conditions, m.summaries):
    lines.append(" & ".join([esc(name), str(s.n), str(s.n_diverged),
                             f"{fmt(s.mean)} [{fmt(s.ci95_low)}, {fmt(s.ci95_high)}]",
                             fmt(s.median), fmt(s.iqm), fmt(s.std, 3),
                             fmt(s.metric_median)]) + r" \\")
  lines += [r"\bottomrule", r"\end{tabular}"]
  return "\n".join(lines) + "\n"


def oriented(m: Merged, x: np.ndarray) -> np.ndarray:
  """Scores turned so that lower is better (returns negated), for the comparisons."""
  return -x if m.higher else x


def pairwise(m: Merged) -> list[dict[str, Any]]:
  """Every pair of conditions compared on the final score (A - B in its units;
  P(A better than B))."""
  out = []
  n = len(m.conditions)
  for i in range(n):
    for j in range(i + 1, n):
      a, b = finite_ok(m.final[i], m.diverged[i]), finite_ok(m.final[j], m.diverged[j])
      if a.size < 2 or b.size < 2:
        continue
      c = stats.compare(a, b, key_or_seed=m.seed)
      c["p_improvement"] = stats.probability_of_improvement(oriented(m, a), oriented(m, b))
      c["p_low"], c["p_high"] = stats.probability_of_improvement_ci(
          oriented(m, a), oriented(m, b), key_or_seed=m.seed)
      out.append({"a": m.conditions[i], "b": m.conditions[j], **c})
  return out


def improvement_matrix(m: Merged) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """P(row better than column) for every pair of conditions, and its bootstrap interval.

  Returns:
    (estimate, low, high), each [conditions, conditions] (NaN on the diagonal).
  """
  n = len(m.conditions)
  mat, lo, hi = (np.full((n, n), np.nan) for _ in range(3))
  for i in range(n):
    for j in range(n):
      a, b = finite_ok(m.final[i], m.diverged[i]), finite_ok(m.final[j], m.diverged[j])
      a, b = oriented(m, a), oriented(m, b)
      if i != j and a.size and b.size:
        mat[i, j] = stats.probability_of_improvement(a, b)
        lo[i, j], hi[i, j] = stats.probability_of_improvement_ci(a, b, key_or_seed=m.seed,
                                                                 n_resamples=500)
  return mat, lo, hi


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
