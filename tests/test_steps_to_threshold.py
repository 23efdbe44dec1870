"""lstm_init.studies.steps_to_threshold: first steps below a threshold, censored
medians, paired bootstrap, and the study on hand-made and real sweeps."""

import json
import math

import numpy as np
import pytest

from lstm_init.engine.sweep import run_sweep
from lstm_init.errors import ConfigError
from lstm_init.report.results import SweepResults
from lstm_init.studies import steps_to_threshold as stt
from tests import forked
from tests.helpers import tiny_config


def test_first_steps_is_the_first_evaluation_at_or_below_the_threshold():
  steps = np.array([0, 10, 20, 30, -1])
  curves = np.array([[1.0, 0.5, 0.01, 0.2, np.nan],     # reaches at 20 (equal counts)
                     [1.0, 0.009, 0.5, 0.5, np.nan],    # at 10, even though it rises again
                     [1.0, np.nan, np.nan, np.nan, np.nan],  # diverged: never
                     [1.0, 0.5, 0.3, 0.02, 0.0]])       # the padded evaluation is ignored
  np.testing.assert_array_equal(stt.first_steps(curves, steps, 0.01),
                                [20.0, 10.0, np.inf, np.inf])


def test_censored_median_counts_never_as_the_budget():
  assert stt.censored_median(np.array([10.0, 20.0, 30.0]), 100) == (20.0, False)
  # two of three never reached: the median is the budget, a lower bound
  assert stt.censored_median(np.array([10.0, np.inf, np.inf]), 100) == (100.0, True)
  # one of four never reached: the median (20 + 30) / 2 is exact
  assert stt.censored_median(np.array([10.0, 20.0, 30.0, np.inf]), 100) == (25.0, False)


def test_percentile_interval_of_the_median_covers_near_95_percent():
  """Percentile bootstrap of a median, 400 samples of 25 exponential draws (true
  median log 2): coverage within 0.90-0.99 (the percentile bootstrap of a median
  at n=25 is known to be close to nominal; 400 trials give SE 0.011)."""
  rng = np.random.default_rng(0)
  hits = 0
  for trial in range(400):
    x = rng.exponential(size=25)
    _, med = stt.bootstrap_medians(x, x, budget=np.inf, paired=True, seed=trial,
                                   n_resamples=1000)
    lo, hi = stt.percentile_interval(med)
    hits += lo <= math.log(2) <= hi
  assert 0.90 <= hits / 400 <= 0.99, hits / 400


def test_paired_bootstrap_is_narrower_when_seeds_share_their_luck():
  """Two conditions whose steps share a large per-seed factor (the seed's luck):
  the ratio is 2 in every pair up to 2% noise, so resampling pairs gives a narrow
  interval around 2 (the medians' noise only); resampling each side alone mixes
  the luck of different seeds and gives an interval many times wider."""
  rng = np.random.default_rng(1)
  luck = rng.lognormal(0.0, 0.8, 16)
  ref, fast = 400 * luck, 200 * luck * rng.lognormal(0.0, 0.02, 16)
  widths = {}
  for paired in (True, False):
    a, b = stt.bootstrap_medians(ref, fast, budget=1e9, paired=paired, seed=0)
    lo, hi = stt.percentile_interval(a / b)
    assert lo <= 2.0 <= hi or paired is False
    widths[paired] = hi - lo
  assert widths[True] < 0.25 and widths[False] > 5 * widths[True], widths


def test_ratio_of_steps():
  np.testing.assert_array_equal(stt.ratio([400, 0, 0, 100], [100, 0, 50, 0]),
                                [4.0, 1.0, 0.0, np.inf])


def _results(curves, steps, seeds=None, perturbation=False, lower_is_better=True):
  """A SweepResults of hand-made curves: {condition: [runs, evaluations]}."""
  names = list(curves)
  rows = []
  for name in names:
    for i in range(len(curves[name])):
      s = (seeds or {}).get(name, list(range(len(curves[name]))))[i]
      row = {"condition": name, "seed": s, "init_seed": s, "data_seed": s, "diverged": False}
      if perturbation:
        row["perturbation"] = i % 2
      rows.append(row)
  arrays = {"eval_loss": np.stack([np.asarray(curves[n], float) for n in names]),
            "steps": np.stack([np.asarray(steps)] * len(names)),
            "conditions": np.array(names)}
  return SweepResults("w", rows, {"lower_is_better": lower_is_better, "conditions": {}},
                      arrays, {"config": {"seed": 0}}, {})


def test_analyse_gives_steps_medians_ratios_and_bounds():
  steps = [0, 100, 200, 300, 400]
  never = [1.0, 0.5, 0.5, 0.5, 0.5]
  at = lambda k: [1.0] + [0.5] * (k - 1) + [0.005] * (5 - k)   # reaches at steps[k]
  res = _results({"slow": [at(4), at(4), at(3), never],
                  "fast": [at(1), at(2), at(1), at(1)],
                  "none": [never, never, never, at(4)]}, steps)
  study = stt.analyse(res, 0.01)
  slow, fast, none = study["conditions"]
  assert study["reference"] == "slow" and study["budget"] == 400
  assert slow["steps"] == [400, 400, 300, None] and slow["n_reached"] == 3
  assert fast["steps"] == [100, 200, 100, 100]
  assert slow["median"] == 400 and not slow["median_censored"]  # median of 300, 400, 400, 400
  assert fast["median"] == 100 and fast["ratio"] == 4.0 and fast["ratio_bound"] == ""
  assert fast["paired"] and not slow["paired"]
  lo, hi = fast["ratio_ci"]
  assert lo <= 4.0 <= hi
  # three of four never reach: censored median, and the ratio is an upper bound
  assert none["median_censored"] and none["ratio_bound"] == "<=" and none["ratio"] == 1.0
  text = stt.to_markdown(study)
  assert "| fast | 4 | 4/4 | 100, 200, 100, 100 | 100 [" in text
  assert "| none | 4 | 1/4 | -, -, -, 400 | >= 400 [" in text and "<= 1 [" in text
  # the reference censored: the ratio is a lower bound
  rev = stt.analyse(res, 0.01, reference="none")
  assert rev["conditions"][1]["ratio_bound"] == ">=" and rev["conditions"][1]["ratio"] == 4.0


def test_pairs_only_where_the_seeds_match():
  steps = [0, 1]
  c = [[1.0, 0.0], [1.0, 0.0]]
  assert stt.is_paired(_results({"a": c, "b": c}, steps), "a", "b")
  assert not stt.is_paired(_results({"a": c, "b": c}, steps, seeds={"b": [5, 6]}), "a", "b")
  assert not stt.is_paired(_results({"a": c, "b": c}, steps, perturbation=True), "a", "b")


def test_bad_input_is_one_line(tmp_path):
  res = _results({"a": [[1.0, 0.0]]}, [0, 1])
  with pytest.raises(ConfigError, match="unknown reference condition 'x'; valid choices: a"):
    stt.analyse(res, 0.01, reference="x")
  with pytest.raises(ConfigError, match="higher-is-better"):
    stt.analyse(_results({"a": [[1.0, 0.0]]}, [0, 1], lower_is_better=False), 0.01)
  with pytest.raises(ConfigError, match="bad threshold nan"):
    stt.run_steps_to_threshold(str(tmp_path), str(tmp_path), math.nan)
  with pytest.raises(ConfigError, match="not a finished sweep workdir"):
    stt.run_steps_to_threshold(str(tmp_path / "none"), str(tmp_path), 0.01)


def test_on_a_real_sweep_it_reads_the_written_curves(tmp_path):
  """A tiny adding sweep: the study's steps are the curves.npz steps where the
  written validation curve first reaches the threshold (set at its median value)."""
  config = tiny_config()
  config.num_seeds = 3
  config.sweep = ("model.init.preset=keras,chrono",)
  run_sweep(config, str(tmp_path / "w"), log=lambda s: None)
  with np.load(tmp_path / "w" / "curves.npz") as z:
    curves, steps = z["eval_loss"], z["steps"]
  threshold = float(np.median(curves[:, :, 1:]))
  study = stt.run_steps_to_threshold(str(tmp_path / "w"), str(tmp_path / "s"), threshold)
  for ci, c in enumerate(study["conditions"]):
    for r in range(3):
      below = np.nonzero(curves[ci, r] <= threshold)[0]
      assert c["steps"][r] == (int(steps[ci, below[0]]) if below.size else None)
  assert study["conditions"][1]["paired"]
  written = json.load(open(tmp_path / "s" / "steps_to_threshold.json"))
  assert written["threshold"] == threshold
  out = forked.run(["-m", "experiments.steps_to_threshold", f"--sweep_workdir={tmp_path / 'w'}",
                    "--threshold=-1"], timeout=120)
  assert out.returncode == 2
  assert out.stderr.strip() == "error: bad threshold -1.0; valid: a finite number > 0"
