"""Paired comparisons: scipy agreement, exact enumeration, power and false positives
by simulation, and which runs the records say share their random streams."""

import itertools

import jax
import numpy as np
import pytest
from scipy import stats as sps

from lstm_init.core import paired, resample, stats
from lstm_init.engine.spec import seeds as seeds_lib
from lstm_init.report import layouts


def _expanded(x, w):
  return np.repeat(x, np.asarray(w).astype(int))


@pytest.mark.parametrize("factors", ["runs", "clusters", "grid"])
def test_weighted_statistics_equal_those_of_the_expanded_resample(factors):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 6, 24).astype(float)  # ties on purpose
  y = rng.integers(0, 6, 11).astype(float)
  f = {"runs": [np.arange(24)], "clusters": [np.repeat(np.arange(6), 4)],
       "grid": [np.repeat(np.arange(4), 6), np.tile(np.arange(6), 4)]}[factors]
  wx = np.concatenate(list(resample.resample_weights(f, 60, rng, block=25)))
  wy = next(resample.resample_weights([np.arange(11)], 60, rng))
  assert wx.shape == (60, 24)
  for r in range(60):
    e, ey = _expanded(x, wx[r]), _expanded(y, wy[r])
    assert resample.weighted_mean(x, wx[r:r + 1])[0] == pytest.approx(e.mean(), abs=1e-12)
    assert resample.weighted_median(x, wx[r:r + 1])[0] == np.median(e)
    assert resample.weighted_iqm(x, wx[r:r + 1])[0] == pytest.approx(sps.trim_mean(e, 0.25),
                                                                     abs=1e-12)
    assert resample.weighted_p_better(x, wx[r:r + 1], y, wy[r:r + 1])[0] == pytest.approx(
        stats.probability_of_improvement(e, ey), abs=1e-12)
  if factors == "clusters":  # a cluster's runs are drawn together: one weight each
    assert np.all(wx.reshape(60, 6, 4) == wx.reshape(60, 6, 4)[:, :, :1])
    assert np.all(wx.sum(axis=1) == 24)
  if factors == "grid":  # rows and columns drawn independently: weight = row count x col count
    g = wx.reshape(60, 4, 6)
    assert np.allclose(g * g.sum(axis=(1, 2))[:, None, None],
                       g.sum(axis=2)[:, :, None] * g.sum(axis=1)[:, None, :])


def _wilcoxon_exact(d):
  """The two-sided exact signed-rank p-value by enumerating every sign pattern."""
  ranks = sps.rankdata(np.abs(d))
  observed = ranks[d > 0].sum()
  centre = ranks.sum() / 2
  sums = np.array([ranks[list(s)].sum() for k in range(d.size + 1)
                   for s in itertools.combinations(range(d.size), k)])
  return float(np.mean(np.abs(sums - centre) >= abs(observed - centre) - 1e-12))


def test_paired_tests_agree_with_scipy_and_with_enumeration():
  rng = np.random.default_rng(1)
  shared = rng.normal(0, 1, 10)
  a = shared + rng.normal(0, 0.3, 10)
  b = shared + 0.25 + rng.normal(0, 0.3, 10)
  c = paired.paired_compare(a, b, n_resamples=500)
  d = a - b
  assert c["t_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
  t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))  # the paired t by hand
  assert c["t_p"] == pytest.approx(2 * sps.t.sf(abs(t), d.size - 1), rel=1e-10)
  assert c["rank_p"] == pytest.approx(sps.wilcoxon(a, b).pvalue, rel=1e-12)
  assert c["rank_p"] == pytest.approx(_wilcoxon_exact(d), abs=1e-12)
  assert c["mean_diff"] == pytest.approx(d.mean()) and c["median_diff"] == np.median(d)
  assert c["p_improvement"] == np.mean(d < 0)
  assert c["ci_low"] < c["mean_diff"] < c["ci_high"]
  # returns: higher is better, so P(A better) counts the pairs where A is higher
  up = paired.paired_compare(a, b, lower_is_better=False, n_resamples=500)
  assert up["p_improvement"] == np.mean(d > 0) and up["t_p"] == c["t_p"]
  # ties and zero differences: the same numbers as scipy's defaults
  x = np.array([1.0, 2, 2, 3, 4, 4, 5, 6])
  y = np.array([1.0, 1, 3, 3, 2, 5, 5, 4])
  z = paired.paired_compare(x, y, n_resamples=200)
  assert z["rank_p"] == pytest.approx(sps.wilcoxon(x, y).pvalue, rel=1e-12)
  assert z["p_improvement"] == pytest.approx((np.sum(x < y) + 0.5 * np.sum(x == y)) / 8)


def test_unpaired_tests_agree_with_scipy_and_mirror_exactly():
  rng = np.random.default_rng(2)
  a, b = rng.normal(0, 1, 13), rng.normal(0.5, 2, 9)
  c = paired.unpaired_compare(a, b, n_resamples=500)
  assert c["t_p"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
  assert c["rank_p"] == pytest.approx(sps.mannwhitneyu(a, b).pvalue, rel=1e-12)
  assert c["p_improvement"] == stats.probability_of_improvement(a, b)
  assert c["median_diff"] == pytest.approx(np.median(a) - np.median(b))
  back = paired.unpaired_compare(b, a, n_resamples=500)
  assert back["p_improvement"] == pytest.approx(1 - c["p_improvement"], abs=1e-15)


def _shared_noise(rng, shape, effect, shared_sd=1.0):
  """Seed i of both conditions shares its data-order luck (sd `shared_sd`); each run
  adds its own (sd 0.3); B is worse by `effect`. Arrays of `shape` (trials, seeds)."""
  shared = rng.normal(0, shared_sd, shape)
  return shared + rng.normal(0, 0.3, shape), shared + effect + rng.normal(0, 0.3, shape)


def _rejections(a, b):
  """Per trial (row): paired t, Wilcoxon, Welch, Mann-Whitney reject at 5%."""
  return np.stack([sps.ttest_rel(a, b, axis=1).pvalue, sps.wilcoxon(a, b, axis=1).pvalue,
                   sps.ttest_ind(a, b, axis=1, equal_var=False).pvalue,
                   sps.mannwhitneyu(a, b, axis=1).pvalue], axis=1) < 0.05


def test_paired_tests_are_more_powerful_under_shared_noise_and_hold_their_level():
  rng = np.random.default_rng(3)
  trials, n = 4000, 20
  for effect in (0.0, 0.3):  # the simulated p-values are the ones the comparisons report
    a, b = _shared_noise(rng, (trials, n), effect)
    for t in range(20):
      p, u = paired.paired_compare(a[t], b[t], n_resamples=10), paired.unpaired_compare(
          a[t], b[t], n_resamples=10)
      assert np.array_equal(_rejections(a[t:t + 1], b[t:t + 1])[0],
                            np.array([p["t_p"], p["rank_p"], u["t_p"], u["rank_p"]]) < 0.05)
    rate = _rejections(a, b).mean(axis=0)
    if effect == 0.0:
      # The paired tests reject about 5% of the time: the binomial SD of a rate of
      # 0.05 over 4000 trials is 0.0034; the tolerance is 3.5 SDs (0.012). The
      # unpaired ones count the shared luck as noise and reject far less often.
      np.testing.assert_allclose(rate[:2], 0.05, atol=0.012)
      assert np.all(rate[2:] < 0.01), rate
    else:
      # At effect 0.3 (0.3 sd of a seed's spread) the paired tests see through the
      # shared luck: the differences have sd 0.3 * sqrt(2), so the paired t-test's
      # power is the noncentral t's (0.851; the rate's binomial SD is 0.006, the
      # tolerance 3.5 SDs). Welch and Mann-Whitney count the shared luck as noise.
      df, nc = n - 1, 0.3 / (0.3 * np.sqrt(2) / np.sqrt(n))
      crit = sps.t.ppf(0.975, df)
      power = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
      assert rate[0] == pytest.approx(power, abs=0.02), (rate, power)
      assert rate[1] > 0.75 and np.all(rate[2:] < 0.05), rate
      assert rate[:2].min() > rate[2:].max() + 0.7, rate
  # Without shared luck (independent seeds), every test holds its level.
  a, b = _shared_noise(rng, (trials, n), 0.0, shared_sd=0.0)
  np.testing.assert_allclose(_rejections(a, b).mean(axis=0), 0.05, atol=0.012)


def test_paired_interval_covers_the_true_difference_at_about_95_percent():
  rng = np.random.default_rng(4)
  trials, hits = 400, 0
  a, b = _shared_noise(rng, (trials, 30), 0.3)
  for t in range(trials):
    c = paired.paired_compare(a[t], b[t], key_or_seed=t, n_resamples=1000)
    hits += c["ci_low"] <= -0.3 <= c["ci_high"]
  # The percentile bootstrap of a mean of 30 covers a little under 95% (its variance
  # is 29/30 of the truth, and it uses z where t is due): P(|t_29| < 1.96 sqrt(29/30))
  # = 0.936. Binomial SD over 400 trials: 0.012; the tolerance is 3 SDs around that.
  expected = 1 - 2 * sps.t.sf(sps.norm.ppf(0.975) * np.sqrt(29 / 30), 29)
  assert abs(hits / trials - expected) <= 0.036 and hits / trials >= 0.90, hits / trials


def test_too_few_pairs_give_no_numbers():
  c = paired.paired_compare([1.0], [2.0])
  assert np.isnan(c["ci_low"]) and np.isnan(c["t_p"]) and c["pairs"] == 1
  u = paired.unpaired_compare([1.0], [2.0, 3.0])
  assert np.isnan(u["mean_diff"]) and np.isnan(u["rank_p"])
  same = paired.paired_compare([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_resamples=100)
  assert np.isnan(same["rank_p"]) and np.isnan(same["t_p"]) and same["p_improvement"] == 0.5


# Which runs share their streams: the records' reading against the engine's own keys.
LAYOUTS = {"seeds": {}, "seeds_data_fixed": {"fixed_streams": "data"},
           "seeds_root_1": {"seed": 1}, "seeds_all_fixed": {"fixed_streams": "init,data,dropout,noise"},
           "crossed": {"design": "crossed", "num_init_seeds": 2, "num_data_seeds": 3},
           "crossed_offset": {"design": "crossed", "num_init_seeds": 2, "num_data_seeds": 3,
                              "data_seed_offset": 1},
           "instability": {"design": "instability", "num_base_seeds": 2, "num_seeds": 3},
           "instability_more": {"design": "instability", "num_base_seeds": 3, "num_seeds": 3}}


def _runs(name):
  """(the layout the records give, engine key data per run) of one condition."""
  fields = {"seed": 0, "design": "seeds", "fixed_streams": "", "num_seeds": 4,
            "num_init_seeds": 1, "num_data_seeds": 1, "init_seed_offset": 0,
            "data_seed_offset": 0, "num_base_seeds": 1, "base_seed_offset": 0}
  fields.update(LAYOUTS[name])
  spec = seeds_lib.SeedSpec(**fields)
  lay = seeds_lib.seed_layout(spec)
  n = len(lay["seed"])
  keys = seeds_lib.condition_keys(spec, lay, np.arange(n))
  data = {s: np.asarray(jax.random.key_data(k)) for s, k in keys.items()}
  extra = []
  if spec.design == "instability":
    pk, _ = seeds_lib.perturbation_keys(spec, lay, np.arange(n))
    extra = [np.asarray(jax.random.key_data(pk))]
  rows = [{k: int(v[i]) for k, v in lay.items()} for i in range(n)]
  engine = [tuple(tuple(data[s][i].tolist()) for s in sorted(data))
            + tuple(tuple(e[i].tolist()) for e in extra) for i in range(n)]
  record = {"config": fields, "conditions": [{"name": name, "overrides": {}}]}
  return layouts.condition_layout(record, name, rows), engine


def test_the_records_say_which_runs_draw_the_same_keys_as_the_engine():
  runs = {name: _runs(name) for name in LAYOUTS}
  for (na, (la, ka)), (nb, (lb, kb)) in itertools.product(runs.items(), repeat=2):
    if la.design != lb.design:
      continue
    for ia, ib in itertools.product(range(len(ka)), range(len(kb))):
      same_keys = ka[ia] == kb[ib]
      assert (la.identity[ia] == lb.identity[ib]) == same_keys, (na, ia, nb, ib)
  pair = lambda a, b: layouts.pairing(runs[a][0], runs[b][0])
  assert pair("seeds", "seeds")[0] and pair("crossed", "crossed")[0]
  assert pair("instability", "instability")[0]
  assert pair("seeds", "seeds_data_fixed")[1].startswith("different fixed streams")
  assert pair("seeds", "seeds_root_1")[1].startswith("different root seeds")
  assert pair("seeds", "instability")[1].startswith("different designs")
  assert pair("crossed", "crossed_offset")[1] == "different seed sets"
  assert pair("instability", "instability_more")[1] == "different seed sets"
  assert not pair("seeds_all_fixed", "seeds_all_fixed")[0]


def test_pairing_follows_a_swept_field_and_matches_runs_in_any_order():
  record = {"config": {"seed": 0, "design": "seeds", "fixed_streams": ["", "data"]},
            "conditions": [{"name": "a", "overrides": {"fixed_streams": ""}},
                           {"name": "b", "overrides": {"fixed_streams": "data"}},
                           {"name": "c", "overrides": {"fixed_streams": ""}}]}
  rows = [{"seed": i, "init_seed": i, "data_seed": i} for i in range(4)]
  a = layouts.condition_layout(record, "a", rows)
  b = layouts.condition_layout(record, "b", rows)
  c = layouts.condition_layout(record, "c", rows[::-1])
  assert layouts.pairing(a, b)[1] == "different fixed streams (none vs data)"
  ok, _, order = layouts.pairing(a, c)
  assert ok and order.tolist() == [3, 2, 1, 0]
