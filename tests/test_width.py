"""The width study: best learning rates recovered on synthetic loss surfaces
(intervals included), the drift and its verdict, the muP preset's flat
coordinate check, and the study run end to end on a tiny grid."""

import json
import math
import os

import numpy as np
import pytest

from lstm_init.engine.spec import base_config
from lstm_init.errors import ConfigError
from lstm_init.studies import coord_check as cc
from lstm_init.studies import width as ws
from lstm_init.studies.parametrizations import condition_config, condition_overrides

LRS = np.exp(np.linspace(math.log(1e-4), math.log(1e-1), 8))
X = np.log(LRS)


def _surface(rng, seeds, x_star, sd_opt=0.3, sd_noise=0.05, curvature=0.5):
  """[L, S] losses: seed s has its optimum at x_star + d_s (d_s ~ N(0, sd_opt)),
  log loss quadratic in log lr around it, plus N(0, sd_noise) in log loss; the
  seed-mean curve's expected minimum is x_star (d_s is symmetric)."""
  d = rng.normal(0, sd_opt, seeds)
  noise = rng.normal(0, sd_noise, (len(X), seeds))
  return 0.05 * np.exp(curvature * (X[:, None] - x_star - d[None]) ** 2 + noise)


def test_argmin_is_exact_on_a_parabola_and_flags_the_grid_edge():
  for x_star in (math.log(3e-3), math.log(1.1e-3), math.log(5e-2)):
    curve = 2.0 + 0.7 * (X - x_star) ** 2
    got, edge = ws.interpolated_argmin(X, curve)
    assert got == pytest.approx(x_star, abs=1e-9) and not edge
  got, edge = ws.interpolated_argmin(X, (X - math.log(1.0)) ** 2)  # optimum above the grid
  assert got == X[-1] and edge
  curve = (X - X[5]) ** 2
  curve[6] = np.inf                                                 # a diverged neighbour
  assert ws.interpolated_argmin(X, curve) == (X[5], True)
  assert math.isnan(ws.interpolated_argmin(X, np.full(len(X), np.inf))[0])


def test_best_lr_recovers_a_known_optimum_and_its_interval_covers_it():
  # 200 synthetic studies of 4 seeds: the point estimate is unbiased to 0.05
  # in log(lr), and the 95% interval covers the true optimum in 88% to 99.5%
  # of them (measured: 0.94-0.97 over three noise levels; the plain
  # percentile interval covered 0.81 at 4 seeds, 0.89 at 8).
  rng = np.random.default_rng(7)
  x_star = math.log(2.4e-3)
  est, covered = [], 0
  for _ in range(200):
    b = ws.best_lr(LRS, _surface(rng, 4, x_star), rng, 400)
    est.append(math.log(b["best_lr"]))
    covered += b["lo"] <= math.exp(x_star) <= b["hi"]
  assert abs(np.mean(est) - x_star) < 0.05
  assert 0.88 <= covered / 200 <= 0.995, covered


def test_drift_recovers_a_known_slope_and_the_verdicts_follow_it():
  # The optimum moves as width^beta. beta = -1 (standard parametrization under
  # Adam, in theory) is called "drifts"; beta = 0 with small seed noise
  # "transfers"; the slope's interval covers beta in >= 88% of 60 studies.
  widths = [32, 64, 128, 256]
  for beta, sd_opt, want in ((-1.0, 0.3, "drifts"), (0.0, 0.05, "transfers")):
    rng = np.random.default_rng(11)
    covered, verdicts = 0, []
    for r in range(60):
      grids = {"c": {w: _surface(rng, 4, math.log(3e-3) + beta * math.log(w / 32), sd_opt)
                     for w in widths}}
      c = ws.analyse(grids, LRS, r, 300)["conditions"]["c"]
      covered += c["drift"]["lo"] <= beta <= c["drift"]["hi"]
      verdicts.append(c["verdict"])
    assert covered / 60 >= 0.88, (beta, covered)
    assert verdicts.count(want) / 60 >= 0.8, (beta, verdicts)


def test_verdict_rules():
  assert ws.verdict(-0.1, 0.2) == "transfers"
  assert ws.verdict(-0.1, 0.3) == "undetermined"        # contains 0, wider than the band
  assert ws.verdict(0.05, 0.2) == "drifts"             # excludes 0
  assert ws.verdict(-1.3, -0.6) == "drifts"
  assert ws.verdict(-0.1, 0.2, edge=True) == "undetermined"  # a censored optimum
  assert ws.verdict(0.0, 0.0, edge=True) == "undetermined"   # every width on the same edge
  assert ws.verdict(math.nan, math.nan) == "undetermined"


def test_loss_grid_marks_diverged_runs_and_refuses_a_hole():
  rows = [{"seed": s, "train.learning_rate": lr, "final_eval_loss": 0.1 * (s + 1),
           "diverged": lr == 0.1 and s == 1} for s in (0, 1) for lr in (0.01, 0.1)]
  grid = ws.loss_grid(rows, [0.01, 0.1])
  np.testing.assert_array_equal(grid, [[0.1, 0.2], [0.1, np.inf]])
  with pytest.raises(ConfigError, match="lacks some learning rate x seed"):
    ws.loss_grid(rows[:-1], [0.01, 0.1])


def test_conditions_set_the_mup_rules_and_refuse_unknown_names():
  o = condition_overrides("mup_learned_width", 128, 32)
  assert o == {"model.init.preset": "mup", "model.init.readout": "zeros",
               "train.lr_scaling": "mup", "model.initial_state.strategy": "learned",
               "train.state_lr_scaling": "width", "train.base_width": 32,
               "model.hidden_size": 128}
  assert condition_overrides("mup_readout_width", 128, 32)["model.init.readout"] == (
      f"normal:{math.sqrt(32) / 128:.8g}")
  assert condition_overrides("keras", 64, 32) == {"model.init.preset": "keras",
                                                  "model.hidden_size": 64}
  with pytest.raises(ConfigError, match="unknown width-study condition 'muP'"):
    condition_overrides("muP", 64, 32)


def _coord_config():
  c = base_config()
  c.task.name = "adding"
  c.task.length = 10
  c.train.batch_size = 16
  c.train.learning_rate = 1e-2
  c.train.clip_norm = 0.0
  c.train.base_width = 32
  return c


def test_the_mup_preset_passes_the_coordinate_check():
  # Every activation's log-log slope against width, at t = 0, 1, 2, 5, 10,
  # within 0.13 of 0: mup's own coord-check test allows a ratio of 1.2 between
  # widths 1000 and 4000 (log 1.2 / log 4 = 0.13). The updates follow the
  # rules exactly: Adam's first nonzero step moves every entry by lr x its
  # multiplier (the zero readout stops every gradient to the LSTM at t = 1).
  widths = [32, 256]
  table = cc.slopes(cc.coord_data(_coord_config(), ["mup"], widths, seeds=4, at="2,-1"))
  act = table[table.quantity.isin(cc.ACTIVATIONS)]
  zero_readout = (act.quantity == "readout") & (act.step == 0)
  assert act[~zero_readout].slope.abs().max() < 0.13, act[["step", "quantity", "slope"]]
  assert (act[zero_readout][["rms_32", "rms_256"]].to_numpy() == 0).all()
  upd = table[table.quantity.str.startswith("update:")].set_index(["step", "quantity"])
  for w in widths:
    assert upd.loc[(1, "update:readout.W"), f"rms_{w}"] == pytest.approx(1e-2 * 32 / w, rel=1e-3)
    assert upd.loc[(1, "update:lstm.0.W_h"), f"rms_{w}"] == 0.0
    assert upd.loc[(2, "update:lstm.0.W_h"), f"rms_{w}"] == pytest.approx(1e-2 * 32 / w, rel=0.3)
  assert upd.loc[(2, "update:lstm.0.W_h"), "slope"] == pytest.approx(-1.0, abs=0.02)
  assert upd.loc[(2, "update:lstm.0.W_x"), "slope"] == pytest.approx(0.0, abs=0.02)


def test_the_study_runs_end_to_end(tmp_path):
  cfg = base_config()
  cfg.num_seeds = 2
  cfg.report = False
  cfg.seed_group = 1
  cfg.task.name, cfg.task.length, cfg.task.eval_size = "adding", 6, 32
  cfg.train.steps, cfg.train.log_every, cfg.train.batch_size = 4, 4, 8
  cfg.train.base_width = 8
  cfg.width_transfer = {"conditions": "mup", "widths": "8,16", "num_bootstrap": 50,
                        "learning_rates": "0.001,0.01,0.1"}
  a = ws.run_width_transfer(cfg, str(tmp_path), log=lambda s: None)
  c = a["conditions"]["mup"]
  assert c["widths"] == [8, 16] and len(c["best"]) == 2 and len(c["curves"][0]) == 3
  assert c["verdict"] in ("transfers", "drifts", "undetermined")
  with open(tmp_path / "width.json") as f:
    assert json.load(f)["conditions"]["mup"]["drift"] == c["drift"]
  assert os.path.exists(tmp_path / "figures" / "width_transfer.png")
  assert "| mup |" in (tmp_path / "width.md").read_text()
  assert condition_config(cfg, "mup", 16).model.hidden_size == 16
  cfg.sweep = ("train.learning_rate=0.1,0.2",)
  with pytest.raises(ConfigError, match="sweeps widths x learning rates itself"):
    ws.run_width_transfer(cfg, str(tmp_path / "again"), log=lambda s: None)
