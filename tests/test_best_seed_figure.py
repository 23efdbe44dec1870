"""The best-seed figure bins on the scale it draws and labels every axis."""

import numpy as np
import pytest

from lstm_init.studies import best_seed


def _rows(values):
  return [{"seed": i, "final_eval_loss": float(v), "final_test_loss": float(v) * 1.1,
           "diverged": False} for i, v in enumerate(values)]


@pytest.mark.parametrize("spread", ["wide", "narrow"])
def test_histogram_bins_follow_the_axis_scale_and_every_axis_is_labelled(spread):
  rng = np.random.default_rng(0)
  low = 1e-4 if spread == "wide" else 0.5
  pop = np.exp(rng.uniform(np.log(low), np.log(1.0), 64))
  retrain = np.exp(rng.uniform(np.log(low), np.log(1.0), 16))
  a = best_seed.analyse(_rows(pop), _rows(retrain))
  fig = best_seed.draw(_rows(pop), _rows(retrain), a)
  scatter, hist = fig.axes
  for ax in fig.axes:
    assert ax.get_xlabel() and ax.get_ylabel()
  bars = [p for p in hist.patches if p.get_width() > 0]
  left = np.array(sorted({p.get_x() for p in bars}))
  both = np.concatenate([pop, retrain])
  if spread == "wide":  # log axis: log-spaced bins, each as wide as the next on screen
    assert hist.get_xscale() == "log" and scatter.get_xscale() == "log"
    np.testing.assert_allclose(np.diff(np.log(left)), np.log(both.max() / both.min()) / 20,
                               rtol=1e-9)
    # values spread evenly in log: most bins are filled (linear bins would leave one)
    assert len({p.get_x() for p in bars if p.get_height() > 0}) > 10
  else:
    assert hist.get_xscale() == "linear"
    np.testing.assert_allclose(np.diff(left), (both.max() - both.min()) / 20, rtol=1e-9)
  heights = np.array([p.get_height() for p in hist.patches]).reshape(2, 20)
  np.testing.assert_allclose(heights.sum(axis=1), 1.0)  # fractions of each set of runs
  best_seed.pyplot().close(fig)


def test_bin_edges_on_a_log_scale_are_geometric():
  edges = best_seed.bin_edges(np.array([1e-3, 1e-2, np.nan, 1.0]), log=True, bins=3)
  np.testing.assert_allclose(edges, [1e-3, 1e-2, 1e-1, 1.0])
