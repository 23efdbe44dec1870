"""The bootstrap as weights: resampling seeds, pairs, clusters or a crossed grid.

Usage:

  for w in resample_weights([base_seed], 5000, rng):   # blocks of [resamples, runs] counts
    means = weighted_mean(x, w)

A resample of units with replacement is a count per unit (how many times it
was drawn); a run's weight is its unit's count. Runs grouped by one factor
(base seeds) are resampled as clusters; two crossed factors (init seeds and
data seeds) are resampled independently, so a run's weight is the product of
its row's and its column's counts (the "pigeonhole" bootstrap of Owen 2007).
Every statistic here equals the statistic of the expanded resample (each run
repeated by its weight), computed without building it.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

BLOCK = 1000  # resamples drawn at once (bounds the memory of a block to BLOCK x runs)


def generator(key_or_seed) -> np.random.Generator:
  """The NumPy generator of a bootstrap: from an int seed, a JAX key or a generator.

  Args:
    key_or_seed: an int seed, a `np.random.Generator` (returned as it is) or a JAX key.
  Returns:
    A `np.random.Generator`.
  """
  if isinstance(key_or_seed, np.random.Generator):
    return key_or_seed
  if hasattr(key_or_seed, "dtype") and "key" in str(key_or_seed.dtype):
    import jax  # only when given a JAX key: the statistics need no accelerator
    key_or_seed = int(np.asarray(jax.random.key_data(key_or_seed)).reshape(-1)[-1])
  return np.random.default_rng(int(key_or_seed))


def levels(labels) -> np.ndarray:
  """Labels as the indices 0..L-1 of their distinct values (in sorted order).

  Args:
    labels: [n] hashable numbers.
  Returns:
    [n] ints.
  """
  return np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)


def resample_weights(factors: Sequence[np.ndarray], n_resamples: int,
                     rng: np.random.Generator, block: int = BLOCK) -> Iterator[np.ndarray]:
  """Bootstrap resamples of the runs, as counts, in blocks.

  Args:
    factors: one or two [n] label arrays: the units resampled with replacement
      (one factor: each label a unit, its runs drawn together; two: both factors
      resampled independently, a run's weight the product of its two counts).
    n_resamples: how many resamples in all.
    rng: the generator (one per statistic set, so its draws are reproducible).
    block: resamples per yielded block.
  Yields:
    [b, n] float weights, b <= block, n_resamples rows over all blocks.
  """
  idx = [levels(f) for f in factors]
  sizes = [int(i.max()) + 1 for i in idx]
  done = 0
  while done < n_resamples:
    b = min(block, n_resamples - done)
    w = None
    for i, size in zip(idx, sizes):
      drawn = rng.integers(0, size, (b, size)) + size * np.arange(b)[:, None]
      counts = np.bincount(drawn.reshape(-1), minlength=b * size).reshape(b, size)
      w = counts[:, i].astype(np.float64) if w is None else w * counts[:, i]
    done += b
    yield w


def weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
  """The mean of each resample.

  Args:
    x: [n] values; w: [b, n] counts.
  Returns:
    [b] means (NaN for an empty resample).
  """
  with np.errstate(invalid="ignore", divide="ignore"):
    return (w * x[None, :]).sum(axis=1) / w.sum(axis=1)


def _sorted(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  order = np.argsort(x, kind="stable")
  xs, ws = x[order], w[:, order]
  return xs, ws, np.cumsum(ws, axis=1)


def _at(xs: np.ndarray, cum: np.ndarray, position: np.ndarray) -> np.ndarray:
  """The value at 0-based `position` [b] of each expanded, sorted resample."""
  k = (cum <= position[:, None]).sum(axis=1)
  return xs[np.minimum(k, xs.size - 1)]


def weighted_median(x: np.ndarray, w: np.ndarray) -> np.ndarray:
  """The median of each resample (`np.median` of the expanded resample).

  Args:
    x: [n] values; w: [b, n] counts (each row with a positive total).
  Returns:
    [b] medians.
  """
  xs, _, cum = _sorted(x, w)
  total = cum[:, -1]
  return (_at(xs, cum, np.floor((total - 1) / 2)) + _at(xs, cum, np.floor(total / 2))) / 2


def weighted_iqm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
  """The interquartile mean of each resample (`scipy.stats.trim_mean(., 0.25)` of
  the expanded resample: int(0.25 N) values cut from each end).

  Args:
    x: [n] values; w: [b, n] counts.
  Returns:
    [b] IQMs.
  """
  xs, ws, cum = _sorted(x, w)
  total = cum[:, -1]
  low = np.floor(0.25 * total)
  high = total - low
  start = cum - ws
  overlap = np.clip(np.minimum(cum, high[:, None]) - np.maximum(start, low[:, None]), 0, None)
  return (overlap * xs[None, :]).sum(axis=1) / (high - low)


def weighted_p_better(a: np.ndarray, wa: np.ndarray, b: np.ndarray,
                      wb: np.ndarray) -> np.ndarray:
  """P(a run of a has a lower value than a run of b), ties counted half, per resample.

  Args:
    a: [n] values, wa: [r, n] counts; b: [m] values, wb: [r, m] counts.
  Returns:
    [r] probabilities (`stats.probability_of_improvement` of the expanded resamples).
  """
  order = np.argsort(b, kind="stable")
  bs = b[order]
  cum = np.concatenate([np.zeros((wb.shape[0], 1)), np.cumsum(wb[:, order], axis=1)], axis=1)
  right = np.searchsorted(bs, a, side="right")
  left = np.searchsorted(bs, a, side="left")
  total_b = cum[:, -1:]
  greater = total_b - cum[:, right]
  equal = cum[:, right] - cum[:, left]
  with np.errstate(invalid="ignore", divide="ignore"):
    return (wa * (greater + 0.5 * equal)).sum(axis=1) / (wa.sum(axis=1) * total_b[:, 0])


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
  """The percentile bootstrap interval of a statistic's resampled values.

  Args:
    values: [r] the statistic over the resamples (non-finite ones ignored).
    confidence: e.g. 0.95.
  Returns:
    (low, high); NaN when no value is finite.
  """
  v = values[np.isfinite(values)]
  if v.size == 0:
    return float("nan"), float("nan")
  alpha = (1 - confidence) / 2
  lo, hi = np.quantile(v, [alpha, 1 - alpha])
  return float(lo), float(hi)
