"""Statistics of outcomes across seeds, on scipy.stats where it does the job.

Usage:

  iqm(losses); bootstrap_ci(losses, key_or_seed=0)
  compare(x, y)  # difference with CI, Welch, Mann-Whitney, P(X < Y), effect size
  expected_best_of_k(losses, k); failure_rate(n_failed, n)
  variance_components(table)   # table[i, j]: init seed i, data seed j
  seeds_needed(delta, sd, power=0.8)

Losses are "lower is better" throughout. Every resampling takes an explicit
seed, so a report is reproducible.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
from scipy import stats as sps

from lstm_init.core.resample import generator as _rng
from lstm_init.errors import ConfigError

BOOTSTRAP_METHODS = ("percentile", "bca")


def _arr(x) -> np.ndarray:
  a = np.asarray(x, dtype=np.float64).reshape(-1)
  return a[np.isfinite(a)]


def iqm(x) -> float:
  """Interquartile mean: the mean of the middle 50% (`trim_mean(x, 0.25)`).

  Args:
    x: [n] outcomes (any shape, flattened; non-finite values dropped).
  Returns:
    The IQM as a float.
  """
  return float(sps.trim_mean(_arr(x), 0.25))


def describe(x) -> dict[str, float]:
  """n, mean, std (ddof=1), median, iqm, min, max and the 10/25/75/90% quantiles.

  Args:
    x: [n] outcomes (any shape, flattened; non-finite values dropped).
  Returns:
    Those statistics by name ("q10" ... "q90"); only {"n": 0} if none is finite;
    "std" is NaN for one value (a spread needs two).
  """
  a = _arr(x)
  if a.size == 0:
    return {"n": 0}
  q = np.quantile(a, [0.1, 0.25, 0.75, 0.9])
  return {"n": int(a.size), "mean": float(a.mean()),
          "std": float(a.std(ddof=1)) if a.size > 1 else math.nan, "median": float(np.median(a)),
          "iqm": iqm(a), "min": float(a.min()), "max": float(a.max()),
          "q10": float(q[0]), "q25": float(q[1]), "q75": float(q[2]), "q90": float(q[3])}


def bootstrap_ci(x, statistic: Callable = np.mean, confidence: float = 0.95,
                 method: str = "percentile", key_or_seed=0,
                 n_resamples: int = 5000) -> tuple[float, float]:
  """Bootstrap confidence interval of `statistic` over seeds.

  Args:
    x: outcomes, one per seed (non-finite values are dropped).
    statistic: a function of a 1-D array (it need not be vectorized over `axis`).
    confidence: e.g. 0.95.
    method: "percentile" (rliable's default) or "bca" (bias-corrected, accelerated).
    key_or_seed: an int seed, a numpy Generator or a JAX key.
    n_resamples: bootstrap resamples.
  Returns:
    (low, high): NaN for fewer than 2 values; both the statistic when every value is
    the same.
  Raises:
    ConfigError: for a method not in `BOOTSTRAP_METHODS`.
  """
  if method not in BOOTSTRAP_METHODS:
    raise ConfigError(f"unknown bootstrap method {method!r}; valid choices: "
                      f"{', '.join(BOOTSTRAP_METHODS)}")
  a = _arr(x)
  if a.size < 2:
    return math.nan, math.nan
  if np.all(a == a[0]):
    v = float(statistic(a))
    return v, v
  # numpy's reductions along the resamples' axis (each row the bits of it alone)
  along = {np.mean: np.mean, np.median: np.median,
           iqm: lambda s, axis: sps.trim_mean(s, 0.25, axis=axis)}.get(statistic)
  res = sps.bootstrap((a,), (lambda s, axis=-1: along(s, axis=axis)) if along else
                      (lambda s, axis=-1: np.apply_along_axis(statistic, axis, s)),
                      confidence_level=confidence, method=method, n_resamples=n_resamples,
                      random_state=_rng(key_or_seed), vectorized=True)
  return float(res.confidence_interval.low), float(res.confidence_interval.high)


def performance_profile(x, taus) -> np.ndarray:
  """The fraction of runs whose score is above each tau (Agarwal et al. 2021; higher
  scores better). Non-finite scores count as runs below every tau.

  Args:
    x: [n] scores (any shape, flattened); taus: [m] thresholds.
  Returns:
    [m] fractions.
  """
  a = np.asarray(x, dtype=np.float64).reshape(-1)
  a = np.where(np.isfinite(a), a, -np.inf)
  return (a[None, :] > np.asarray(taus, dtype=np.float64).reshape(-1, 1)).mean(axis=1)


def probability_of_improvement(x, y) -> float:
  """P(X < Y): the chance a run of x has a lower loss than a run of y (ties half).

  Equal to `scipy.stats.mannwhitneyu(y, x).statistic / (len(x) * len(y))`.

  Args:
    x, y: [n], [m] losses of the two conditions (non-finite values dropped).
  Returns:
    The probability as a float.
  """
  a, b = _arr(x), np.sort(_arr(y))
  # For each a_i: how many b are greater, and how many equal (O(n log n)).
  right = np.searchsorted(b, a, side="right")
  left = np.searchsorted(b, a, side="left")
  less = (b.size - right).sum()
  ties = (right - left).sum()
  return float((less + 0.5 * ties) / (a.size * b.size))


def probability_of_improvement_ci(x, y, confidence=0.95, key_or_seed=0,
                                  n_resamples=2000) -> tuple[float, float]:
  """Stratified bootstrap interval of `probability_of_improvement(x, y)`.

  Args:
    x, y: [n], [m] losses; confidence, key_or_seed, n_resamples: as in `bootstrap_ci`.
  Returns:
    (low, high).
  """
  a, b = _arr(x), _arr(y)
  rng = _rng(key_or_seed)
  vals = np.empty(n_resamples)
  for r in range(n_resamples):
    vals[r] = probability_of_improvement(rng.choice(a, a.size), rng.choice(b, b.size))
  alpha = (1 - confidence) / 2
  return float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha))


def hedges_g(x, y) -> float:
  """Standardized mean difference (x - y) with the small-sample correction.

  Args:
    x, y: [n], [m] outcomes of the two conditions.
  Returns:
    Hedges' g (0.0 when the pooled standard deviation is zero).
  """
  a, b = _arr(x), _arr(y)
  n1, n2 = a.size, b.size
  pooled = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
  if pooled == 0:
    return 0.0
  return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (n1 + n2) - 9)))


def compare(x, y, confidence: float = 0.95, key_or_seed=0) -> dict[str, float]:
  """Two conditions' outcomes compared (x minus y; lower loss is better).

  Args:
    x, y: [n], [m] losses; confidence, key_or_seed: as in `bootstrap_ci` (5000 draws).
  Returns:
    mean difference with a bootstrap CI (resampling each condition's seeds),
    Welch's t-test p-value, Mann-Whitney U p-value, P(X < Y) and Hedges' g.
  """
  a, b = _arr(x), _arr(y)
  rng = _rng(key_or_seed)
  diffs = (rng.choice(a, (5000, a.size)).mean(axis=1)
           - rng.choice(b, (5000, b.size)).mean(axis=1))
  alpha = (1 - confidence) / 2
  with warnings.catch_warnings():  # seeds with identical scores (a solved task): p is NaN
    warnings.simplefilter("ignore", RuntimeWarning)
    welch = float(sps.ttest_ind(a, b, equal_var=False).pvalue)
  return {"mean_diff": float(a.mean() - b.mean()),
          "ci_low": float(np.quantile(diffs, alpha)),
          "ci_high": float(np.quantile(diffs, 1 - alpha)),
          "welch_p": welch,
          "mannwhitney_p": float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue),
          "p_improvement": probability_of_improvement(a, b),
          "hedges_g": hedges_g(a, b)}


def expected_best_of_k(x, k: int | np.ndarray) -> float | np.ndarray:
  """Expected minimum loss of k runs drawn with replacement from the seeds.

  Exact (Dodge et al. 2019): with the n observed losses sorted ascending,
  P(min = x_(i)) = ((n - i + 1)^k - (n - i)^k) / n^k.

  Args:
    x: [n] observed losses; k: a number of runs, or an array of them.
  Returns:
    The expectation (an array for an array of k).
  """
  a = np.sort(_arr(x))
  n = a.size
  ks = np.atleast_1d(np.asarray(k, dtype=np.float64))
  i = np.arange(1, n + 1)[None, :]
  upper = ((n - i + 1) / n) ** ks[:, None]
  lower = ((n - i) / n) ** ks[:, None]
  out = ((upper - lower) * a[None, :]).sum(axis=1)
  return float(out[0]) if np.ndim(k) == 0 else out


def failure_rate(failures: int, n: int, confidence: float = 0.95) -> dict[str, float]:
  """Failure rate with a Wilson score interval.

  Args:
    failures, n: failed runs and all runs; confidence: of the interval.
  Returns:
    {"rate", "low", "high"} (all NaN when n <= 0).
  """
  if n <= 0:
    return {"rate": float("nan"), "low": float("nan"), "high": float("nan")}
  z = sps.norm.ppf(0.5 + confidence / 2)
  p = failures / n
  denom = 1 + z * z / n
  centre = (p + z * z / (2 * n)) / denom
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
  return {"rate": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half)}


def _anova_components(t: np.ndarray) -> tuple[float, float, float]:
  """Variance estimates (init, data, residual) of a two-way crossed table."""
  n_i, n_j = t.shape
  grand = t.mean()
  row, col = t.mean(axis=1), t.mean(axis=0)
  ms_row = n_j * ((row - grand) ** 2).sum() / (n_i - 1)
  ms_col = n_i * ((col - grand) ** 2).sum() / (n_j - 1)
  resid = t - row[:, None] - col[None, :] + grand
  ms_res = (resid ** 2).sum() / ((n_i - 1) * (n_j - 1))
  return max(0.0, (ms_row - ms_res) / n_j), max(0.0, (ms_col - ms_res) / n_i), ms_res


def variance_components(table, key_or_seed=0, n_resamples: int = 1000,
                        confidence: float = 0.95) -> dict[str, float]:
  """Shares of variance from init seeds, data seeds and their interaction.

  A two-way random-effects ANOVA without replication on a crossed design:
  table[i, j] is the outcome of init seed i with data seed j. Components are
  estimated from the mean squares (negative estimates set to zero); the
  residual includes the init x data interaction.

  Args:
    table: [init, data seeds] (>= 2 x 2); key_or_seed, n_resamples, confidence: see
      `bootstrap_ci`.
  Returns:
    {"init", "data", "residual"}: shares summing to 1; "var_init",
    "var_data", "var_residual": the variance estimates; "<name>_low" and
    "<name>_high": bootstrap intervals of each share (rows and columns
    resampled independently).
  Raises:
    ConfigError: when the table is not 2-D or smaller than 2 x 2.
  """
  t = np.asarray(table, dtype=np.float64)
  if t.ndim != 2 or min(t.shape) < 2:
    raise ConfigError(f"variance_components needs a table of at least 2 x 2, got {t.shape}")
  comps = _anova_components(t)
  total = sum(comps) or 1.0
  out = {"init": comps[0] / total, "data": comps[1] / total, "residual": comps[2] / total,
         "var_init": comps[0], "var_data": comps[1], "var_residual": comps[2]}
  rng = _rng(key_or_seed)
  shares = []
  for _ in range(n_resamples):
    r = rng.integers(0, t.shape[0], t.shape[0])
    c = rng.integers(0, t.shape[1], t.shape[1])
    comp = _anova_components(t[np.ix_(r, c)])
    shares.append(np.array(comp) / (sum(comp) or 1.0))
  shares = np.array(shares)
  alpha = (1 - confidence) / 2
  for i, name in enumerate(("init", "data", "residual")):
    out[f"{name}_low"] = float(np.quantile(shares[:, i], alpha))
    out[f"{name}_high"] = float(np.quantile(shares[:, i], 1 - alpha))
  return out


def _one_way(t: np.ndarray) -> tuple[float, float]:
  """(between-row, within-row) variance estimates of a one-way random-effects table."""
  n_b, n_p = t.shape
  within = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum() / (n_b * (n_p - 1))
  if n_b < 2:
    return math.nan, float(within)
  ms_between = n_p * ((t.mean(axis=1) - t.mean()) ** 2).sum() / (n_b - 1)
  return max(0.0, (ms_between - within) / n_p), float(within)


def instability_components(table, key_or_seed=0, n_resamples: int = 1000,
                           confidence: float = 0.95) -> dict[str, float]:
  """How much of a seed study's spread is numerical chaos (Summers and Dinneen 2021).

  table[b, j] is the outcome of base seed b with one-bit perturbation j (j = 0
  unperturbed): every run of a row shares all random streams. A one-way
  random-effects ANOVA splits the variance into what the base seed decides
  (initialization and data order together: `seed`) and what a one-ulp change
  of one initial weight moves (`instability`, the within-row variance).

  Args:
    table: [base seeds, perturbations] (>= 2 columns); key_or_seed, n_resamples,
      confidence: see `bootstrap_ci`.
  Returns:
    "var_instability" and "std_instability" (pooled within-row); with two or
    more rows also "var_seed", the shares "seed" and "instability" (summing to
    1) and bootstrap intervals "<share>_low"/"_high" (base seeds resampled
    whole, the cluster bootstrap: resampling runs within a row as well would
    shrink the within-row variance by about (P - 1) / P); "base_seeds", "perturbations".
  Raises:
    ConfigError: when the table is not 2-D or has fewer than 2 columns.
  """
  t = np.asarray(table, dtype=np.float64)
  if t.ndim != 2 or t.shape[1] < 2:
    raise ConfigError(f"instability_components needs at least 2 perturbations per base seed, "
                      f"got a table of shape {t.shape}")
  var_seed, var_inst = _one_way(t)
  out = {"var_instability": var_inst, "std_instability": math.sqrt(var_inst),
         "base_seeds": int(t.shape[0]), "perturbations": int(t.shape[1])}
  if t.shape[0] < 2:
    return out
  total = var_seed + var_inst
  if total == 0:  # every run the same: no spread to share out
    out.update(var_seed=0.0)
    return out
  out.update(var_seed=var_seed, seed=var_seed / total, instability=var_inst / total)
  rng = _rng(key_or_seed)
  shares = []
  for _ in range(n_resamples):
    s_seed, s_inst = _one_way(t[rng.integers(0, t.shape[0], t.shape[0])])
    shares.append(s_inst / ((s_seed + s_inst) or 1.0))
  alpha = (1 - confidence) / 2
  lo, hi = np.quantile(shares, [alpha, 1 - alpha])
  out.update(instability_low=float(lo), instability_high=float(hi),
             seed_low=float(1 - hi), seed_high=float(1 - lo))
  return out


def seeds_needed(delta: float, sd: float, power: float = 0.8, alpha: float = 0.05) -> int:
  """Seeds per condition for a two-sided Welch/t-test to detect a mean difference.

  Iterates the noncentral t power of a two-sample t-test with equal n and
  standard deviation `sd` until it reaches `power` (Colas et al. 2018).

  Args:
    delta: the mean difference, > 0; sd: the outcome standard deviation, > 0.
    power: target power; alpha: significance level.
  Returns:
    The smallest n >= 2 reaching `power` (100000 if none below it does).
  Raises:
    ConfigError: when delta or sd is not positive.
  """
  if delta <= 0 or sd <= 0:
    raise ConfigError(f"seeds_needed needs delta > 0 and sd > 0, got {delta}, {sd}")
  for n in range(2, 100_000):
    df = 2 * n - 2
    crit = sps.t.ppf(1 - alpha / 2, df)
    nc = delta / (sd * math.sqrt(2 / n))
    achieved = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    if achieved >= power:
      return n
  return 100_000


def power_of(n: int, delta: float, sd: float, alpha: float = 0.05) -> float:
  """Power of the two-sided two-sample t-test with n seeds per condition.

  Args:
    n: seeds per condition; delta, sd, alpha: as in `seeds_needed`.
  Returns:
    The power as a float.
  """
  df = 2 * n - 2
  crit = sps.t.ppf(1 - alpha / 2, df)
  nc = delta / (sd * math.sqrt(2 / n))
  return float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))


def spearman(x, y) -> tuple[float, float]:
  """Spearman rank correlation and its p-value (pairs with a non-finite value dropped).

  Args:
    x, y: [n] paired values (flattened).
  Returns:
    (rho, p); both NaN with fewer than 3 pairs or a constant input.
  """
  a, b = np.asarray(x, float).reshape(-1), np.asarray(y, float).reshape(-1)
  ok = np.isfinite(a) & np.isfinite(b)
  a, b = a[ok], b[ok]
  if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
    return float("nan"), float("nan")  # undefined for constant input
  r = sps.spearmanr(a, b)
  return float(r.statistic), float(r.pvalue)
