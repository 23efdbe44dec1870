"""Statistics against scipy, closed forms, brute force and simulation."""

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from lstm_init.core import stats


def test_iqm_is_scipy_trim_mean():
  x = np.random.default_rng(0).lognormal(size=37)
  assert stats.iqm(x) == pytest.approx(sps.trim_mean(x, 0.25), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_probability_of_improvement_matches_mann_whitney(seed):
  rng = np.random.default_rng(seed)
  x = rng.integers(0, 6, size=13).astype(float)  # small integers: many ties
  y = rng.integers(0, 6, size=9).astype(float)
  ref = sps.mannwhitneyu(y, x).statistic / (len(x) * len(y))
  assert stats.probability_of_improvement(x, y) == pytest.approx(ref, abs=1e-12)
  assert stats.probability_of_improvement(x, y) + stats.probability_of_improvement(y, x) == \
      pytest.approx(1.0)


def test_expected_best_of_k_matches_enumeration():
  x = np.array([0.3, 0.1, 0.7, 0.1, 0.5])
  for k in (1, 2, 3):
    draws = itertools.product(x, repeat=k)  # every ordered draw with replacement
    brute = np.mean([min(d) for d in draws])
    assert stats.expected_best_of_k(x, k) == pytest.approx(brute, abs=1e-12)
  curve = stats.expected_best_of_k(x, np.arange(1, 6))
  assert curve[0] == pytest.approx(x.mean()) and np.all(np.diff(curve) <= 0)


def test_variance_components_recover_known_components():
  rng = np.random.default_rng(0)
  n_i, n_j, reps = 30, 30, 20
  shares = []
  for _ in range(reps):  # var_init 4, var_data 1, residual 1 -> shares 2/3, 1/6, 1/6
    t = (rng.normal(0, 2.0, (n_i, 1)) + rng.normal(0, 1.0, (1, n_j))
         + rng.normal(0, 1.0, (n_i, n_j)))
    v = stats.variance_components(t, n_resamples=50)
    shares.append([v["init"], v["data"], v["residual"]])
    assert v["init"] + v["data"] + v["residual"] == pytest.approx(1.0)
    assert v["init_low"] <= v["init"] <= v["init_high"]
  # averaged over 20 tables the estimates sit within a few standard errors
  np.testing.assert_allclose(np.mean(shares, 0), [2 / 3, 1 / 6, 1 / 6], atol=0.04)


def test_bootstrap_interval_covers_the_mean_at_about_its_nominal_rate():
  rng = np.random.default_rng(1)
  true_mean, trials, hits = 1.0, 300, 0
  for t in range(trials):
    x = rng.exponential(true_mean, size=40)
    lo, hi = stats.bootstrap_ci(x, key_or_seed=t, n_resamples=1000)
    hits += lo <= true_mean <= hi
  # Percentile bootstrap of a skewed mean at n=40 undercovers slightly; the
  # binomial standard error of the rate over 300 trials is ~0.013.
  assert 0.88 <= hits / trials <= 0.98, hits / trials


def test_bootstrap_is_reproducible_and_bca_works():
  x = np.random.default_rng(2).normal(size=30)
  assert stats.bootstrap_ci(x, key_or_seed=5) == stats.bootstrap_ci(x, key_or_seed=5)
  lo, hi = stats.bootstrap_ci(x, statistic=np.median, method="bca", key_or_seed=5)
  assert lo < np.median(x) < hi


@pytest.mark.parametrize("n", [2, 5, 8, 9, 16, 33])
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_axis_reductions_give_the_bits_of_the_statistic_row_by_row(n, method):
  # The mean, median and IQM are reduced along the resamples' axis; a wrapped copy
  # of each goes through the row-by-row path: the intervals must be equal floats.
  x = np.random.default_rng(n).lognormal(size=n)
  for f in (np.mean, np.median, stats.iqm):
    by_row = lambda a, f=f: f(a)
    assert stats.bootstrap_ci(x, f, method=method, key_or_seed=3, n_resamples=500) == \
        stats.bootstrap_ci(x, by_row, method=method, key_or_seed=3, n_resamples=500), f


def test_failure_rate_wilson_interval():
  r = stats.failure_rate(0, 20)
  assert r["rate"] == 0 and r["low"] == 0 and r["high"] == pytest.approx(0.1611, abs=1e-3)
  r = stats.failure_rate(5, 10)
  assert r["low"] == pytest.approx(0.2366, abs=1e-3) and r["high"] == pytest.approx(0.7634, abs=1e-3)


def test_seeds_needed_reaches_the_power_and_one_less_does_not():
  n = stats.seeds_needed(delta=0.5, sd=1.0, power=0.8)
  assert stats.power_of(n, 0.5, 1.0) >= 0.8 > stats.power_of(n - 1, 0.5, 1.0)
  assert n == 64  # the textbook figure for d = 0.5 at 80% power, alpha 0.05
  # simulated power of Welch's test at that n agrees
  rng = np.random.default_rng(3)
  p = [sps.ttest_ind(rng.normal(0, 1, n), rng.normal(0.5, 1, n), equal_var=False).pvalue
       for _ in range(1000)]
  assert abs(np.mean(np.array(p) < 0.05) - 0.8) < 0.04


def test_compare_signs_and_effect_size():
  rng = np.random.default_rng(4)
  a, b = rng.normal(0, 1, 200), rng.normal(1, 1, 200)
  c = stats.compare(a, b)
  assert c["ci_low"] < c["mean_diff"] < c["ci_high"] < 0
  assert c["p_improvement"] > 0.7 and c["welch_p"] < 1e-6
  assert c["hedges_g"] == pytest.approx(-1.0, abs=0.2)
