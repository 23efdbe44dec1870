"""Runs that are not independent seeds: intervals that resample whole units, effective n.

Usage:

  cluster_bootstrap_ci(x, [base_seed])                  # clusters resampled whole
  cluster_bootstrap_ci(x, [init_seed, data_seed])       # a crossed grid: both seed sets
  design_effect(x, base_seed)    # {"clusters", "icc", "design_effect", "n_effective"}
  crossed_effective_n(var_init, var_data, var_residual, n_init, n_data)

An instability condition's runs are clusters: the one-bit neighbours of one
base seed share every random stream, so they are near-copies, and treating
them as independent seeds makes intervals too narrow by the square root of
the design effect 1 + (m - 1) * ICC (Kish 1965). The runs of a crossed grid
share their initialization along a row and their data order along a column.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from lstm_init.core import resample

STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean": resample.weighted_mean, "median": resample.weighted_median,
    "iqm": resample.weighted_iqm}


def units_of(factors: Sequence[np.ndarray] | None, n: int) -> list[np.ndarray]:
  """The factors that resampling draws from: those with two or more levels.

  Args:
    factors: [n] label arrays (None or empty: every run is its own unit).
    n: runs.
  Returns:
    The factors kept (a factor with one level is held fixed: a crossed grid of
    one init seed is a sample of data orders for that initialization).
  """
  kept = [np.asarray(f).reshape(-1) for f in (factors or [np.arange(n)])]
  return [f for f in kept if np.unique(f).size > 1]


def cluster_bootstrap_ci(x, factors: Sequence[np.ndarray] | None = None,
                         statistic: str = "mean", confidence: float = 0.95, key_or_seed=0,
                         n_resamples: int = 5000) -> tuple[float, float]:
  """Percentile bootstrap interval of a statistic of runs grouped into units.

  Args:
    x: [n] outcomes (non-finite ones dropped, with their labels).
    factors: one [n] label array (clusters, resampled whole) or two (a crossed
      grid: rows and columns resampled independently); None: independent runs.
    statistic: "mean", "median" or "iqm".
    confidence, key_or_seed, n_resamples: as in `stats.bootstrap_ci`.
  Returns:
    (low, high); NaN when fewer than 2 units are left to resample.
  """
  a = np.asarray(x, dtype=np.float64).reshape(-1)
  ok = np.isfinite(a)
  kept = units_of([np.asarray(f).reshape(-1)[ok] for f in factors] if factors else None,
                  int(ok.sum()))
  if not kept:
    return math.nan, math.nan
  fn = STATISTICS[statistic]
  values = np.concatenate([fn(a[ok], w) for w in resample.resample_weights(
      kept, n_resamples, resample.generator(key_or_seed))])
  return resample.percentile_interval(values, confidence)


def one_way_icc(x, clusters) -> float:
  """The intra-cluster correlation of a one-way random-effects model (ANOVA estimator).

  With unequal cluster sizes n_g, n0 = (N - sum n_g^2 / N) / (C - 1) stands for
  the size: ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW), clipped to [0, 1].

  Args:
    x: [N] outcomes; clusters: [N] labels.
  Returns:
    The ICC (NaN with fewer than 2 clusters or no run beside another in a cluster;
    0 when there is no spread at all).
  """
  a = np.asarray(x, dtype=np.float64).reshape(-1)
  g = resample.levels(clusters)
  c, n = int(g.max()) + 1 if g.size else 0, a.size
  if c < 2 or n <= c:
    return math.nan
  sizes = np.bincount(g, minlength=c)
  means = np.bincount(g, weights=a, minlength=c) / sizes
  msb = (sizes * (means - a.mean()) ** 2).sum() / (c - 1)
  msw = ((a - means[g]) ** 2).sum() / (n - c)
  n0 = (n - (sizes ** 2).sum() / n) / (c - 1)
  denom = msb + (n0 - 1) * msw
  if denom <= 0:
    return 0.0
  return float(min(1.0, max(0.0, (msb - msw) / denom)))


def design_effect(x, clusters) -> dict[str, float]:
  """Kish's design effect of the mean of clustered runs, and the effective n.

  deff = 1 + (m - 1) * ICC with m = sum n_g^2 / N (the mean cluster size, for
  unequal sizes weighted as Kish does); n_effective = N / deff, between the
  number of clusters (ICC 1: a cluster is one run) and N (ICC 0).

  Args:
    x: [N] outcomes; clusters: [N] labels.
  Returns:
    {"n", "clusters", "icc", "design_effect", "n_effective"} (NaN where undefined).
  """
  a = np.asarray(x, dtype=np.float64).reshape(-1)
  g = resample.levels(clusters)
  sizes = np.bincount(g) if g.size else np.zeros(0, int)
  icc = one_way_icc(a, g)
  m = float((sizes ** 2).sum() / a.size) if a.size else math.nan
  deff = 1 + (m - 1) * icc
  return {"n": int(a.size), "clusters": int(sizes.size), "icc": icc, "design_effect": deff,
          "n_effective": a.size / deff if math.isfinite(deff) else math.nan}


def crossed_effective_n(var_init: float, var_data: float, var_residual: float,
                        n_init: int, n_data: int) -> float:
  """The effective n of the mean of a complete crossed grid.

  Var(mean) = var_init / I + var_data / J + var_residual / (I J); n_effective is
  the number of independent runs whose mean would have that variance:
  (var_init + var_data + var_residual) / Var(mean), between min(I, J) and I J.

  Args:
    var_init, var_data, var_residual: the variance components
      (`stats.variance_components`); n_init, n_data: the grid's I and J.
  Returns:
    The effective n (NaN when the total variance is 0).
  """
  total = var_init + var_data + var_residual
  var_mean = var_init / n_init + var_data / n_data + var_residual / (n_init * n_data)
  return float(total / var_mean) if var_mean > 0 else math.nan
