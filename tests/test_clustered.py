"""Clustered and crossed runs: interval coverage, effective n and test level by
simulation with known intra-cluster correlation, and the summary that uses them."""

import numpy as np
import pytest
from scipy import stats as sps

from lstm_init.core import clustered, paired
from lstm_init.report import summary as summary_lib


def _clusters(rng, n_clusters, size, between_sd, within_sd=1.0, mean=0.0):
  """[n_clusters * size] outcomes with known ICC = between^2 / (between^2 + within^2)."""
  base = rng.normal(0, between_sd, n_clusters)
  x = mean + np.repeat(base, size) + rng.normal(0, within_sd, n_clusters * size)
  return x, np.repeat(np.arange(n_clusters), size)


def test_cluster_bootstrap_covers_at_about_95_percent_and_the_naive_one_does_not():
  rng = np.random.default_rng(0)
  trials, hits, naive = 500, 0, 0
  for t in range(trials):
    # 20 base seeds x 8 runs, ICC 0.5: the design effect is 1 + 7 * 0.5 = 4.5
    x, g = _clusters(rng, 20, 8, 1.0)
    lo, hi = clustered.cluster_bootstrap_ci(x, [g], key_or_seed=t, n_resamples=1000)
    hits += lo <= 0.0 <= hi
    lo, hi = clustered.cluster_bootstrap_ci(x, None, key_or_seed=t, n_resamples=1000)
    naive += lo <= 0.0 <= hi
  # The percentile bootstrap over C = 20 clusters covers a little under 95%: its
  # variance is (C - 1) / C of the truth and it uses z where t is due, so it covers
  # P(|t_19| < 1.96 sqrt(19 / 20)) = 0.929. Binomial SD over 500 trials: 0.0115;
  # the tolerance is 3 SDs around that, and within 0.05 of the nominal 95%.
  # Resampling runs as if independent ignores the design effect: its interval is
  # sqrt(4.5) = 2.1 times too narrow, covering about P(|Z| < 0.92) = 0.64.
  expected = 1 - 2 * sps.t.sf(sps.norm.ppf(0.975) * np.sqrt(19 / 20), 19)
  assert abs(hits / trials - expected) <= 0.035 and hits / trials >= 0.90, hits / trials
  assert naive / trials < 0.75, naive / trials


def test_crossed_bootstrap_covers_and_resampling_runs_does_not():
  rng = np.random.default_rng(1)
  trials, hits, naive = 300, 0, 0
  rows, cols = np.repeat(np.arange(10), 10), np.tile(np.arange(10), 10)
  for t in range(trials):
    # a 10 x 10 grid with init, data and residual variances 1, 1, 1
    x = (rng.normal(0, 1, 10)[rows] + rng.normal(0, 1, 10)[cols] + rng.normal(0, 1, 100))
    lo, hi = clustered.cluster_bootstrap_ci(x, [rows, cols], key_or_seed=t, n_resamples=1000)
    hits += lo <= 0.0 <= hi
    lo, hi = clustered.cluster_bootstrap_ci(x, None, key_or_seed=t, n_resamples=1000)
    naive += lo <= 0.0 <= hi
  # Resampling rows and columns independently is conservative (Owen 2007) and the
  # small grid pulls the other way; binomial SD over 300 trials 0.013: 0.92-0.99.
  # Independent runs: the variance of the mean is 0.21, not 0.03: about 0.54.
  assert 0.92 <= hits / trials <= 0.99, hits / trials
  assert naive / trials < 0.7, naive / trials


def test_the_icc_and_the_effective_n_recover_known_values():
  rng = np.random.default_rng(2)
  iccs, effs = [], []
  for _ in range(200):  # ICC 0.4 (between sd sqrt(2/3), within 1), 30 clusters of 8
    x, g = _clusters(rng, 30, 8, np.sqrt(2 / 3))
    d = clustered.design_effect(x, g)
    assert d["design_effect"] == pytest.approx(1 + 7 * d["icc"])  # Kish, equal sizes
    assert d["n_effective"] == pytest.approx(240 / d["design_effect"]) and d["clusters"] == 30
    iccs.append(d["icc"])
    effs.append(d["n_effective"])
  # the ANOVA estimator's SD at 30 clusters is about 0.09: the mean of 200 within 0.03
  assert np.mean(iccs) == pytest.approx(0.4, abs=0.03)
  assert np.median(effs) == pytest.approx(240 / (1 + 7 * 0.4), rel=0.1)
  # no cluster effect: ICC near 0 and n_effective near n; one run per cluster: no ICC
  x, g = _clusters(rng, 30, 8, 0.0)
  assert clustered.design_effect(x, g)["n_effective"] > 150
  assert np.isnan(clustered.one_way_icc(np.arange(5.0), np.arange(5)))


def test_the_crossed_effective_n_is_the_variance_of_the_mean_it_implies():
  rng = np.random.default_rng(3)
  n_i, n_j, var = 6, 4, (2.0, 0.5, 1.0)
  means = [(rng.normal(0, np.sqrt(var[0]), (n_i, 1)) + rng.normal(0, np.sqrt(var[1]), (1, n_j))
            + rng.normal(0, np.sqrt(var[2]), (n_i, n_j))).mean() for _ in range(8000)]
  n_eff = clustered.crossed_effective_n(*var, n_i, n_j)
  # the variance of 8000 means has a relative SD of sqrt(2 / 8000) = 1.6%: within 6%
  assert np.var(means) == pytest.approx(sum(var) / n_eff, rel=0.06)
  assert min(n_i, n_j) <= n_eff <= n_i * n_j


def test_tests_on_base_seed_means_hold_their_level_where_runs_do_not():
  rng = np.random.default_rng(4)
  trials = 2000  # two instability conditions, no difference: 10 base seeds x 8 runs
  x = rng.normal(0, 1, (trials, 10, 1)) + rng.normal(0, 1, (trials, 10, 8))
  y = rng.normal(0, 1, (trials, 10, 1)) + rng.normal(0, 1, (trials, 10, 8))
  g = np.repeat(np.arange(10), 8)
  on_means = sps.ttest_ind(x.mean(2), y.mean(2), axis=1, equal_var=False).pvalue
  on_runs = sps.ttest_ind(x.reshape(trials, -1), y.reshape(trials, -1), axis=1,
                          equal_var=False).pvalue
  for t in range(10):  # these are the p-values the comparisons report
    c = paired.unpaired_compare(x[t].reshape(-1), y[t].reshape(-1), [g], [g], n_resamples=10)
    assert c["t_p"] == pytest.approx(on_means[t], rel=1e-10)
    naive = paired.unpaired_compare(x[t].reshape(-1), y[t].reshape(-1), n_resamples=10)
    assert naive["t_p"] == pytest.approx(on_runs[t], rel=1e-10)
  # Welch on base-seed means: 5% within 0.015 (3 binomial SDs over 2000 trials).
  # Welch on runs as if independent: its t is inflated by sqrt(4.5), rejecting about 36%.
  assert abs(np.mean(on_means < 0.05) - 0.05) <= 0.015, np.mean(on_means < 0.05)
  assert np.mean(on_runs < 0.05) > 0.25, np.mean(on_runs < 0.05)


def test_paired_clusters_resample_base_seeds_and_test_their_mean_differences():
  rng = np.random.default_rng(5)
  x, g = _clusters(rng, 6, 4, 1.0)
  y = x + 0.1 + rng.normal(0, 0.05, x.size)
  c = paired.paired_compare(x, y, [g], n_resamples=200)
  dx = np.bincount(g, weights=x - y) / 4
  assert c["t_p"] == pytest.approx(sps.ttest_1samp(dx, 0.0).pvalue, rel=1e-10)
  assert c["units_a"] == [6] and c["pairs"] == 24
  grid = paired.paired_compare(x, y, [g, np.tile(np.arange(4), 6)], n_resamples=200)
  assert np.isnan(grid["t_p"]) and np.isfinite(grid["ci_low"]) and grid["units_a"] == [6, 4]


def _rows(values, clusters=None):
  rows = []
  for i, v in enumerate(values):
    base = int(clusters[i]) if clusters is not None else i
    rows.append({"condition": "c", "seed": i, "init_seed": base, "data_seed": base,
                 "perturbation": i % 8, "final_eval_loss": float(v), "final_eval_metric": 0.0,
                 "early_eval_loss": float(v), "late_eval_loss": float("nan"),
                 "diverged": False})
  return rows


TASK = {"task": "t", "metric": "m", "baseline": 1.0, "baseline_note": "", "first_k": 1,
        "lower_is_better": True, "score": "final validation loss", "step_unit": "step",
        "steps_per_update": 1, "failure_line": None, "target": None}


def test_an_instability_summary_resamples_base_seeds_and_gives_its_effective_n():
  rng = np.random.default_rng(6)
  x, g = _clusters(rng, 8, 8, 1.0, mean=5.0)
  cond = summary_lib.ScoredCondition("c", {}, "instability", TASK)
  s = summary_lib.summarize([cond], _rows(x, g), seed=3)["conditions"]["c"]
  assert (s["ci95_low"], s["ci95_high"]) == clustered.cluster_bootstrap_ci(x, [g], key_or_seed=3)
  assert s["n_effective"] == pytest.approx(clustered.design_effect(x, g)["n_effective"])
  assert s["resampled"] == "8 base seeds" and 8 <= s["n_effective"] <= 64
  plain = summary_lib.summarize([summary_lib.ScoredCondition("c", {}, "seeds", TASK)],
                                _rows(x), seed=3)["conditions"]["c"]
  assert "resampled" not in plain and "n_effective" not in plain
  # the base seeds' spread is what the interval reflects: wider than the naive one
  assert s["ci95_high"] - s["ci95_low"] > 1.5 * (plain["ci95_high"] - plain["ci95_low"])
  table = summary_lib.summary_table(summary_lib.summarize([cond], _rows(x, g), seed=0))
  assert "the intervals resample 8 base seeds (effective n" in table
