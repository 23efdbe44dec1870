"""The crossed variance design and the best-seed study."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init.studies import best_seed
from lstm_init.core import keys
from lstm_init.report import document as report
from lstm_init.engine import sweep
from lstm_init.engine.spec import seeds as seeds_lib
from tests import forked
from tests.helpers import tiny_config


def test_crossed_layout_reuses_plain_seed_streams():
  cfg = tiny_config()
  cfg.design = "crossed"
  cfg.num_init_seeds, cfg.num_data_seeds = 3, 2
  cfg.data_seed_offset = 10
  spec = seeds_lib.SeedSpec.of(cfg)
  lay = seeds_lib.seed_layout(spec)
  assert lay["init_seed"].tolist() == [0, 0, 1, 1, 2, 2]
  assert lay["data_seed"].tolist() == [10, 11, 10, 11, 10, 11]
  k = seeds_lib.condition_keys(spec, lay, np.arange(6))
  plain = keys.run_keys(keys.root_key(cfg.seed), jnp.arange(12))
  data = lambda a: np.asarray(jax.random.key_data(a))
  np.testing.assert_array_equal(data(k["init"])[2], data(plain["init"])[1])
  np.testing.assert_array_equal(data(k["data"])[3], data(plain["data"])[11])
  np.testing.assert_array_equal(data(k["noise"])[3], data(plain["noise"])[11])


def _rows(val, test, diverged=None):
  diverged = diverged or [False] * len(val)
  return [{"seed": i, "init_seed": i, "data_seed": i, "final_eval_loss": v,
           "final_test_loss": t, "diverged": d}
          for i, (v, t, d) in enumerate(zip(val, test, diverged))]


def test_best_seed_analysis_on_known_numbers():
  val = [0.5, 0.2, 0.4, 0.3, 0.6]
  test = [0.55, 0.35, 0.45, 0.30, 0.65]
  retrain = _rows([0.38, 0.42, 0.40], [0.4, 0.4, 0.4])
  a = best_seed.analyse(_rows(val, test), retrain)
  assert a["chosen_seed"] == 1 and a["chosen_val_loss"] == 0.2
  assert a["lead_over_median_val"] == pytest.approx(0.4 - 0.2)
  assert a["lead_over_median_test"] == pytest.approx(0.45 - 0.35)
  assert a["lead_kept_on_test"] == pytest.approx(0.5)
  assert a["lead_kept_on_retrain"] == pytest.approx((0.4 - 0.40) / 0.2)
  assert a["spearman_val_test"] == pytest.approx(0.9)
  assert a["chosen_test_percentile"] == pytest.approx(1 / 5)  # one seed is better on test
  assert a["retrain_median_percentile"] == pytest.approx(2 / 5)


def test_crossed_sweep_reports_variance_components(tmp_path):
  cfg = tiny_config()
  cfg.design = "crossed"
  cfg.num_init_seeds, cfg.num_data_seeds = 3, 3
  res = sweep.run_sweep(cfg, str(tmp_path), log=lambda s: None)
  report.write_report([str(tmp_path)])
  vc = res.summary_record["conditions"]["tiny"]["variance_components"]
  assert vc["init"] + vc["data"] + vc["residual"] == pytest.approx(1.0)
  assert {r["init_seed"] for r in res.rows} == {0, 1, 2}
  assert "Where the variance comes from" in open(os.path.join(tmp_path, "report.md")).read()


def _study(module, *args, cwd):
  return forked.run(["-m", module, *args], cwd=cwd, timeout=300)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_best_seed_refuses_a_config_that_still_sweeps(tmp_path):
  wd = tmp_path / "bs"
  out = _study("experiments.best_seed", "--config=configs/default.py", f"--workdir={wd}",
               cwd=ROOT)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert out.stderr.strip().splitlines()[-1] == (
      "error: the best-seed study trains one condition, but the config's sweep varies "
      "model.init.preset (model.init.preset=keras,pytorch,flax_linen); give one value with "
      "--config.model.init.preset=<v>")
  assert not wd.exists()
  # Given the value, the rule replaces the axis, and the study starts (refused
  # later for a value out of range, so nothing trains here).
  out = _study("experiments.best_seed", "--config=configs/default.py",
               "--config.model.init.preset=tf1", "--config.num_seeds=0", f"--workdir={wd}",
               cwd=ROOT)
  assert out.returncode == 2
  assert "model.init.preset=tf1 given: the default sweep over model.init.preset is replaced" \
      in out.stdout
  assert out.stderr.strip().splitlines()[-1] == "error: bad value 0 for num_seeds; valid: >= 1, " \
      "a finite number"


def test_signal_study_uses_the_preset_given_on_the_command_line(tmp_path):
  wd = tmp_path / "signal"
  small = ["--config.num_seeds=2", "--config.task.length=12", "--config.model.hidden_size=8",
           "--config.signal.batch=4", "--cpu_devices=1"]
  out = _study("experiments.signal_propagation", "--config.model.init.preset=tf1", *small,
               f"--workdir={wd}", cwd=ROOT)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "model.init.preset=tf1 given: the default list of presets (signal.presets) is " \
      "replaced" in out.stdout
  assert json.loads((wd / "signal.json").read_text())["presets"] == ["tf1"]
  out = _study("experiments.signal_propagation", "--config.model.init.preset=tf1",
               "--config.signal.presets=keras", *small, f"--workdir={wd}", cwd=ROOT)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert "model.init.preset and signal.presets are both given" in out.stderr
