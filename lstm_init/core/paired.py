"""Two conditions compared, paired where their seeds share random streams.

Usage:

  paired_compare(x, y)                   # x[i], y[i]: seed i of each (common random numbers)
  paired_compare(x, y, [base_seed])      # pairs grouped in clusters, resampled whole
  unpaired_compare(x, y, [base_x], None) # independent seeds, or clusters on either side

When seed i of condition A and seed i of condition B draw the same data order
(and every stream the conditions do not change), A_i - B_i cancels the luck
they share, and the paired tests see through it: the paired t-test
(`scipy.stats.ttest_rel`), the Wilcoxon signed-rank test
(`scipy.stats.wilcoxon`) and P(A better than B) over pairs. Otherwise the
seeds are independent samples: Welch's t-test, Mann-Whitney U and P(A
better than B) over all pairs of runs. Clustered runs (one-bit neighbours of
a base seed) are resampled whole and tested through their units' means; a
crossed grid's runs share rows and columns, so no test of independent units
applies and only intervals are given.

Every result has the same keys: "mean_diff" (A - B) with "ci_low"/"ci_high";
"median_diff" (paired: the median of the differences; unpaired: the
difference of the medians) with "median_low"/"median_high"; "p_improvement"
(P(A better than B)) with "p_low"/"p_high"; "t_p" and "rank_p" (the two
tests' p-values, NaN where no test applies); "hedges_g"; "units_a" and
"units_b" (the levels of each factor resampled). All intervals come from one
set of resamples.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from scipy import stats as sps

from lstm_init.core import resample, stats
from lstm_init.core.clustered import units_of

NAN_RESULT = ("mean_diff", "ci_low", "ci_high", "median_diff", "median_low", "median_high",
              "p_improvement", "p_low", "p_high", "t_p", "rank_p", "hedges_g")


def _nan_result(**extra) -> dict:
  return {k: math.nan for k in NAN_RESULT} | extra


def _levels(kept: list[np.ndarray]) -> list[int]:
  return [int(np.unique(f).size) for f in kept]


def _unit_means(x: np.ndarray, kept: list[np.ndarray]) -> np.ndarray | None:
  """The mean of each unit of one factor (the runs themselves when every run is a
  unit); None for a crossed grid (two factors: no independent units)."""
  if len(kept) != 1:
    return None
  g = resample.levels(kept[0])
  return np.bincount(g, weights=x) / np.bincount(g)


def _quiet(test, *args, **kwargs) -> float:
  """A scipy test's p-value (NaN where it is undefined: every difference zero)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
      p = float(test(*args, **kwargs).pvalue)
    except ValueError:
      return math.nan
  return p


def paired_compare(x, y, factors: Sequence[np.ndarray] | None = None,
                   lower_is_better: bool = True, confidence: float = 0.95,
                   key_or_seed=0, n_resamples: int = 5000) -> dict:
  """A - B over pairs of runs that share their random streams.

  Args:
    x, y: [n] outcomes of A and B, x[i] and y[i] a pair (a pair with a
      non-finite value is dropped).
    factors: None (independent pairs), one [n] label array (pairs in clusters,
      resampled whole; the tests compare the clusters' mean differences) or two
      (a crossed grid: intervals only).
    lower_is_better: whether a lower value is better (losses) or higher (returns).
    confidence, key_or_seed, n_resamples: as in `stats.bootstrap_ci`.
  Returns:
    The module's keys, "pairs" (pairs kept) and "paired": True; every number NaN
    with fewer than 2 units.
  """
  a, b = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
  ok = np.isfinite(a) & np.isfinite(b)
  a, b = a[ok], b[ok]
  kept = units_of([np.asarray(f).reshape(-1)[ok] for f in factors] if factors else None,
                  a.size)
  if not kept:
    return _nan_result(pairs=int(a.size), paired=True, units_a=[int(a.size)],
                       units_b=[int(a.size)])
  d = a - b
  better = (d < 0) if lower_is_better else (d > 0)
  score = better + 0.5 * (d == 0)
  blocks = [(resample.weighted_mean(d, w), resample.weighted_median(d, w),
             resample.weighted_mean(score, w))
            for w in resample.resample_weights(kept, n_resamples,
                                               resample.generator(key_or_seed))]
  mean_b, median_b, p_b = (np.concatenate(v) for v in zip(*blocks))
  ua, ub = _unit_means(a, kept), _unit_means(b, kept)
  t_p = rank_p = math.nan
  if ua is not None and ua.size >= 2:
    t_p = _quiet(sps.ttest_rel, ua, ub)
    rank_p = _quiet(sps.wilcoxon, ua, ub) if np.any(ua != ub) else math.nan
  out = {"pairs": int(a.size), "paired": True, "units_a": _levels(kept),
         "units_b": _levels(kept), "mean_diff": float(d.mean()),
         "median_diff": float(np.median(d)), "p_improvement": float(score.mean()),
         "t_p": t_p, "rank_p": rank_p, "hedges_g": stats.hedges_g(a, b)}
  out["ci_low"], out["ci_high"] = resample.percentile_interval(mean_b, confidence)
  out["median_low"], out["median_high"] = resample.percentile_interval(median_b, confidence)
  out["p_low"], out["p_high"] = resample.percentile_interval(p_b, confidence)
  return out


def unpaired_compare(x, y, x_factors: Sequence[np.ndarray] | None = None,
                     y_factors: Sequence[np.ndarray] | None = None,
                     lower_is_better: bool = True, confidence: float = 0.95,
                     key_or_seed=0, n_resamples: int = 5000) -> dict:
  """A - B for runs with independent streams: each condition's units resampled on
  their own.

  Args:
    x, y: [n], [m] outcomes of A and B (non-finite ones dropped).
    x_factors, y_factors: each condition's units, as in `paired_compare`.
    lower_is_better, confidence, key_or_seed, n_resamples: as in `paired_compare`.
  Returns:
    The module's keys and "paired": False; Welch's t-test and Mann-Whitney U on
    the units' means (the runs themselves when they are independent); every
    number NaN when either side has fewer than 2 units.
  """
  a, b = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
  oka, okb = np.isfinite(a), np.isfinite(b)
  ka = units_of([np.asarray(f).reshape(-1)[oka] for f in x_factors] if x_factors else None,
                int(oka.sum()))
  kb = units_of([np.asarray(f).reshape(-1)[okb] for f in y_factors] if y_factors else None,
                int(okb.sum()))
  a, b = a[oka], b[okb]
  if not ka or not kb:
    return _nan_result(paired=False, units_a=_levels(ka) or [int(a.size)],
                       units_b=_levels(kb) or [int(b.size)])
  sign = 1.0 if lower_is_better else -1.0
  rng = resample.generator(key_or_seed)
  blocks = [(resample.weighted_mean(a, wa) - resample.weighted_mean(b, wb),
             resample.weighted_median(a, wa) - resample.weighted_median(b, wb),
             resample.weighted_p_better(sign * a, wa, sign * b, wb))
            for wa, wb in zip(resample.resample_weights(ka, n_resamples, rng),
                              resample.resample_weights(kb, n_resamples, rng))]
  mean_b, median_b, p_b = (np.concatenate(v) for v in zip(*blocks))
  ua, ub = _unit_means(a, ka), _unit_means(b, kb)
  t_p = rank_p = math.nan
  if ua is not None and ub is not None:
    t_p = _quiet(sps.ttest_ind, ua, ub, equal_var=False)
    rank_p = _quiet(sps.mannwhitneyu, ua, ub, alternative="two-sided")
  out = {"paired": False, "units_a": _levels(ka), "units_b": _levels(kb),
         "mean_diff": float(a.mean() - b.mean()),
         "median_diff": float(np.median(a) - np.median(b)),
         "p_improvement": stats.probability_of_improvement(sign * a, sign * b),
         "t_p": t_p, "rank_p": rank_p, "hedges_g": stats.hedges_g(a, b)}
  out["ci_low"], out["ci_high"] = resample.percentile_interval(mean_b, confidence)
  out["median_low"], out["median_high"] = resample.percentile_interval(median_b, confidence)
  out["p_low"], out["p_high"] = resample.percentile_interval(p_b, confidence)
  return out
