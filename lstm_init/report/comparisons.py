"""Every pair of conditions compared once: paired where their seeds share random
streams, by units where runs cluster; the table, the matrix and their notes.

  cs = compare_all(m)                 # one Comparison per pair (i < j)
  mat, lo, hi = improvement_matrix(cs, len(m.conditions))   # mirrored cells: complements
  notes(cs)                           # the lines under the table: which test and why

The pairwise table and the improvement figure read the same comparisons: one
bootstrap per pair (`N_RESAMPLES` resamples from the sweep's seed), and the
cell (j, i) is the complement of (i, j).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lstm_init.core import paired
from lstm_init.report import layouts
from lstm_init.report.merged import Merged

N_RESAMPLES = 5000


@dataclasses.dataclass(frozen=True)
class Comparison:
  """Conditions i and j (A and B) compared: A - B and P(A better than B)."""

  i: int
  j: int
  a: str
  b: str
  paired: bool
  kind: str          # "seeds", "clusters" (base seeds) or "grid" (a crossed grid)
  reason: str        # why unpaired ("" when paired)
  result: dict[str, Any]

  @property
  def enough(self) -> bool:
    """Whether both sides had at least 2 units to resample."""
    return bool(np.isfinite(self.result["mean_diff"]))


def _values(m: Merged, i: int) -> np.ndarray:
  """Condition i's final scores with diverged seeds as NaN (kept in place for pairing)."""
  x = np.asarray(m.final[i], np.float64).copy()
  x[np.asarray(m.diverged[i], bool)] = np.nan
  return x


def _kind(result: dict[str, Any], *layouts_: layouts.RunLayout | None) -> str:
  """"grid" when a side was resampled by rows and columns, "clusters" when a side's
  runs are one-bit neighbours of base seeds, else "seeds"."""
  if len(result["units_a"]) == 2 or len(result["units_b"]) == 2:
    return "grid"
  return "clusters" if any(lay is not None and lay.design == "instability"
                           for lay in layouts_) else "seeds"


def compare(m: Merged, i: int, j: int) -> Comparison:
  """Conditions i and j compared (`core.paired`), paired when their runs share streams.

  Args:
    m: the merged sweeps; i, j: the conditions.
  Returns:
    The `Comparison`.
  """
  la, lb = m.layouts[i], m.layouts[j]
  x, y = _values(m, i), _values(m, j)
  is_paired, reason, order = layouts.pairing(la, lb)
  common = {"lower_is_better": not m.higher, "key_or_seed": m.seed,
            "n_resamples": N_RESAMPLES}
  if is_paired:
    one = len(la.factors) == 1 and la.design == "seeds"
    result = paired.paired_compare(x, y[order], None if one else la.factors, **common)
  else:
    result = paired.unpaired_compare(x, y, la.factors if la else None,
                                     lb.factors if lb else None, **common)
  return Comparison(i, j, m.conditions[i], m.conditions[j], is_paired, _kind(result, la, lb),
                    reason, result)


def compare_all(m: Merged) -> list[Comparison]:
  """Every pair of conditions (i < j), in order."""
  n = len(m.conditions)
  return [compare(m, i, j) for i in range(n) for j in range(i + 1, n)]


def improvement_matrix(comparisons: list[Comparison], n: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """P(row better than column) and its interval, from the comparisons.

  Args:
    comparisons: `compare_all(m)`; n: the number of conditions.
  Returns:
    (estimate, low, high), each [n, n]: cell (j, i) is 1 - cell (i, j), its
    interval [1 - high, 1 - low]; NaN on the diagonal and where a side has
    fewer than 2 units.
  """
  mat, lo, hi = (np.full((n, n), np.nan) for _ in range(3))
  for c in comparisons:
    if c.enough:
      r = c.result
      mat[c.i, c.j], lo[c.i, c.j], hi[c.i, c.j] = r["p_improvement"], r["p_low"], r["p_high"]
      mat[c.j, c.i], lo[c.j, c.i], hi[c.j, c.i] = (1 - r["p_improvement"], 1 - r["p_high"],
                                                   1 - r["p_low"])
  return mat, lo, hi


def _units(levels: list[int], base: bool) -> str:
  if len(levels) == 2:
    return f"{levels[0]} x {levels[1]} init x data seeds"
  return f"{levels[0]} {'base ' if base else ''}seed{'' if levels[0] == 1 else 's'}"


def _side(m: Merged, i: int, levels: list[int]) -> str:
  lay = m.layouts[i]
  return _units(levels, lay is not None and lay.design == "instability")


def compared(m: Merged, c: Comparison) -> str:
  """The table cell saying what was compared: paired or not, over which units."""
  r = c.result
  if c.paired:
    how = "paired by base seed" if c.kind == "clusters" else "paired"
    return f"{how}, {_units(r['units_a'], c.kind == 'clusters')}"
  return (f"unpaired ({c.reason}), {_side(m, c.i, r['units_a'])} | "
          f"{_side(m, c.j, r['units_b'])}")


def notes(m: Merged, comparisons: list[Comparison]) -> list[str]:
  """The lines under the pairwise table: which tests each kind of row used, and why."""
  out = []
  kinds = {(c.paired, c.kind) for c in comparisons if c.enough}
  if any(p for p, _ in kinds):
    out.append("Paired rows: seed i of A and seed i of B draw the same random streams (the "
               "same root seed, design, seed layout and fixed streams), so each seed's "
               "difference A - B cancels the luck the two share (common random numbers). "
               "The intervals resample seeds (pairs); median A - B is the median of the "
               "paired differences; P(A better than B) is the share of seeds where A beats "
               "B; t-test p is the paired t-test and rank test p the Wilcoxon signed-rank "
               "test (zero differences dropped). A pair in which either run diverged is "
               "left out.")
  if any(not p for p, _ in kinds):
    reasons = sorted({c.reason for c in comparisons if c.enough and not c.paired})
    out.append(f"Unpaired rows ({'; '.join(reasons)}): the two conditions' seeds do not "
               "draw the same streams, so each condition is resampled on its own; median "
               "A - B is the difference of the medians; P(A better than B) is over every "
               "pair of runs; t-test p is Welch's t-test and rank test p Mann-Whitney U.")
  if any(k == "clusters" for _, k in kinds):
    out.append("Rows with base seeds: an instability condition's runs are one-bit "
               "neighbours of a few base seeds, near-copies rather than independent seeds. "
               "Their intervals resample base seeds whole, and the tests compare base-seed "
               "means (n = the number of base seeds).")
  if any(k == "grid" for _, k in kinds):
    out.append("Rows with a crossed grid: its runs share an initialization along a row "
               "and a data order along a column, so no test of independent runs applies "
               "(n/a); the intervals resample init seeds and data seeds independently "
               "(Owen 2007).")
  few = [f"{c.a} vs {c.b}" for c in comparisons if not c.enough]
  if few:
    out.append("n/a: intervals and tests need at least 2 seeds (2 base seeds, or a grid of "
               "2 or more) per condition that did not diverge: " + ", ".join(few) + ".")
  if any(c.enough for c in comparisons):
    out.append(f"Each pair's intervals, in this table and in the figure, come from the same "
               f"{N_RESAMPLES} bootstrap resamples (seeded by the sweep's seed, {m.seed}); a "
               "cell of the figure and its mirror are complements.")
  return out
