"""configs/papers: every published-finding config runs at the cpu scale and plans
at the paper scale (which sets only values: the paper's sizes)."""

import importlib
import json
import math
import os
import subprocess
import sys

import pytest

from lstm_init.errors import ConfigError
from lstm_init.engine.spec.plan import apply_scale, plan_sweep
from lstm_init.engine.sweep import run_sweep

PAPERS = ("chrono_copy", "copy_baseline", "irnn_adding", "forget_bias", "instability",
          "instability_a2c")
# What each paper scale must set (the paper's setting), read back from the plan.
PAPER_VALUES = {
    "chrono_copy": {"task.delay": 500, "model.hidden_size": 128, "model.init.t_max": 750.0},
    "copy_baseline": {"model.hidden_size": 40, "train.clip_norm": 1.0},
    "irnn_adding": {"train.optimizer": "sgd"},
    "forget_bias": {"model.hidden_size": 256},
    "instability": {"num_base_seeds": 32},
    "instability_a2c": {"num_seeds": 32},
}
TINY = {"train.steps": 3, "train.log_every": 3, "train.eval_every": 3, "task.eval_size": 16,
        "task.eval_rows": 2, "num_seeds": 2, "num_base_seeds": 2, "num_init_seeds": 2,
        "num_data_seeds": 2, "rl.eval_episodes": 2, "rl.curve_episodes": 2}


def _get(config, path):
  for part in path.split("."):
    config = config[part]
  return config


def _tiny(config):
  """The resolved config with the runs' counts and lengths made tiny (sizes kept)."""
  for path, value in TINY.items():
    parent, _, name = path.rpartition(".")
    if parent and parent not in config:
      continue
    node = _get(config, parent) if parent else config
    if name in node:
      node[name] = value
  config.report = False
  config.seed_group = 1
  return config


def _config(name, scale):
  config = importlib.import_module(f"configs.papers.{name}").get_config()
  config.scale = scale
  return config


@pytest.mark.parametrize("scale", ["cpu", "paper"])
@pytest.mark.parametrize("name", PAPERS)
def test_paper_config_plans_and_runs(name, scale, tmp_path):
  config = apply_scale(_config(name, scale))
  assert "scales" not in config and config.scale == scale
  if scale == "paper":
    for path, value in PAPER_VALUES[name].items():
      assert _get(config, path) == value, path
    # The paper's sizes plan (every condition builds, every value is used); training
    # them at tiny step counts is the cpu scale's test, with the same code.
    plan = plan_sweep(_tiny(config))
    assert plan.conditions and all(c.config.scale == "paper" for c in plan.conditions)
    return
  result = run_sweep(_tiny(config), str(tmp_path / "w"), log=lambda s: None)
  assert result.rows and all(math.isfinite(r["final_train_loss"]) for r in result.rows)
  recorded = json.load(open(tmp_path / "w" / "config.json"))
  assert recorded["config"]["scale"] == scale and "scales" not in recorded["config"]


def test_copy_baseline_is_the_formula_at_every_delay():
  plan = plan_sweep(_config("copy_baseline", "cpu"))
  delays = [c.config.task.delay for c in plan.conditions]
  assert delays == [10, 25, 50, 100, 200]
  for d, exp in zip(delays, plan.experiments):
    assert exp.baseline == pytest.approx(10 * math.log(8) / (d + 20), rel=1e-12)


def test_the_memoryless_predictor_scores_the_copy_baseline():
  """Blanks with certainty, then a uniform guess over the 8 symbols at the 10 recall
  steps: its mean cross-entropy on the task's own validation set is the formula."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from lstm_init.training.model import position_losses
  from lstm_init.training.tasks import make_task
  for delay in (10, 100):
    config = _config("copy_baseline", "cpu")
    config.task.delay = delay
    task = make_task(config.task)
    batch = jax.tree.map(lambda a: a[0], task.eval_set(task.data, "val"))
    n, length = batch.mask.shape
    recall = jnp.arange(length) >= length - 10
    logits = jnp.where(recall[:, None], jnp.where(jnp.arange(10) >= 1, 0.0, -1e9)
                       .at[9].set(-1e9), jnp.where(jnp.arange(10) == 0, 0.0, -1e9))
    loss, _ = position_losses(task, jnp.broadcast_to(logits, (n, length, 10)), batch.ys)
    mean = float(jnp.sum(loss * batch.mask) / jnp.sum(batch.mask))
    np.testing.assert_allclose(mean, 10 * math.log(8) / (delay + 20), rtol=1e-6)
    assert task.baseline == pytest.approx(mean, rel=1e-6)


def test_a_given_value_wins_over_the_scale_and_bad_scales_are_refused():
  config = _config("chrono_copy", "paper")
  config.task.delay = 60
  plan = plan_sweep(config, given={"task.delay": 60, "scale": "paper"})
  assert plan.config.task.delay == 60 and plan.config.model.hidden_size == 128
  with pytest.raises(ConfigError, match="unknown scale 'gpu'; valid choices: cpu, paper"):
    plan_sweep(_config("chrono_copy", "gpu"))
  with pytest.raises(ConfigError, match="cannot be swept"):
    plan_sweep(_config("chrono_copy", "cpu"), sweep=["scale=cpu,paper"])


def test_the_sweep_applies_the_scale_and_records_it(tmp_path):
  """Through run_sweep's own planning: the scale's values, the given ones over them."""
  config = _config("chrono_copy", "paper")
  given = {"num_seeds": 1, "task.delay": 6, "task.eval_size": 8, "train.steps": 2,
           "train.log_every": 2, "train.eval_every": 2, "seed_group": 1, "report": False}
  for path, value in given.items():
    parent, _, name = path.rpartition(".")
    (_get(config, parent) if parent else config)[name] = value
  run_sweep(config, str(tmp_path / "w"), log=lambda s: None, given=given)
  recorded = json.load(open(tmp_path / "w" / "config.json"))["config"]
  assert recorded["scale"] == "paper" and "scales" not in recorded
  assert recorded["model"]["hidden_size"] == 128 and recorded["train"]["optimizer"] == "rmsprop"
  assert recorded["task"]["delay"] == 6 and recorded["train"]["steps"] == 2


def test_bad_scale_on_the_command_line_is_one_line(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "experiments.seed_sweep", "--config=configs/papers/chrono_copy.py",
       "--config.scale=tpu", f"--workdir={tmp_path / 'w'}"],
      capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(
          os.path.abspath(__file__))))
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1] == (
      "error: unknown scale 'tpu'; valid choices: cpu, paper")
  assert not os.path.exists(tmp_path / "w")
