"""Re-training runs from a workdir's records, bit for bit (engine.reproduce), in
process: identical runs, a changed record caught and named, workdirs that cannot
be re-trained refused in one line. (The command line's: tests/test_cli.py.)"""

import csv
import json
import os
import shutil

import pytest

import lstm_init
from lstm_init import ConfigError
from lstm_init.engine import reproduce

TINY = {"num_seeds": 3, "train.steps": 6, "train.eval_every": 2, "train.log_every": 3,
        "report": False}
SUPERVISED = {"task.length": 6, "model.hidden_size": 4, "task.eval_size": 32, **TINY}
RL = {"rl.num_envs": 4, "rl.rollout_len": 8, "rl.eval_episodes": 2, "rl.curve_episodes": 1,
      "model.hidden_size": 8, **TINY}
GRU = {"gru.hidden_size": 8, "task.eval_rows": 4, **TINY}
CROSSED = {**{k: v for k, v in SUPERVISED.items() if k != "num_seeds"}, "design": "crossed",
           "num_init_seeds": 2, "num_data_seeds": 2, "fixed_streams": "noise"}


def _sweep(workdir, path=None, axis=None, **overrides):
  config = lstm_init.config(path, **overrides)
  return lstm_init.sweep(config, sweep=axis, workdir=str(workdir), progress="lines",
                         log=lambda s: None).workdir


@pytest.fixture(scope="module")
def supervised(tmp_path_factory):
  """The default sweep's three presets, at tiny sizes, with the backend's seed group."""
  return _sweep(tmp_path_factory.mktemp("supervised") / "w", **SUPERVISED)


def test_reproduce_the_default_sweep_then_a_edited_value_is_caught(supervised, tmp_path):
  lines = []
  rep = reproduce.reproduce(supervised, seeds=[0, 2], log=lines.append)
  assert rep.identical and len(rep.runs) == 6
  assert "re-training 6 run(s)" in lines[0] and "the backend's fixed size (cpu: 1)" in lines[0]
  text = reproduce.describe(rep)
  assert text.count("identical (") == 6 and "all 6 run(s) identical to the bit" in text
  # One value of results.csv edited in its last digit: the run named.
  edited = tmp_path / "edited"
  shutil.copytree(supervised, edited)
  rows = list(csv.DictReader(open(edited / "results.csv")))
  target = next(r for r in rows if r["condition"] == "preset=pytorch" and r["seed"] == "2")
  value = target["final_eval_loss"]
  target["final_eval_loss"] = value[:-1] + ("1" if value[-1] != "1" else "2")
  with open(edited / "results.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  rep = reproduce.reproduce(str(edited), seeds=[2], conditions=["preset=pytorch"],
                            log=lambda s: None)
  text = reproduce.describe(rep)
  assert not rep.identical and "1 of 1 run(s) differ: preset=pytorch seed 2" in text
  assert f"final_eval_loss {target['final_eval_loss']} recorded, {value} recomputed" in text
  assert "the records or the code changed" in text  # the environment is the same


def test_a_workdir_that_cannot_be_retrained_gets_one_line(supervised, tmp_path):
  with pytest.raises(ConfigError, match=rf"^seed 7 is not in {supervised!r}; valid choices: "
                                        r"0 to 2$"):
    reproduce.reproduce(supervised, seeds=[7])
  with pytest.raises(ConfigError, match=r"unknown condition 'preset=nope' .*valid choices: "
                                        r"preset=keras, preset=pytorch, preset=flax_linen"):
    reproduce.reproduce(supervised, conditions=["preset=nope"])
  old = tmp_path / "old"
  shutil.copytree(supervised, old)
  env = json.load(open(old / "environment.json"))
  del env["seed_groups"], env["seed_group_rule"]  # as written before they were recorded
  json.dump(env, open(old / "environment.json", "w"))
  for workdir, missing in ((old, "does not record the seed group sizes"),
                           (tmp_path / "none", "is not a folder")):
    with pytest.raises(ConfigError, match=missing):
      reproduce.reproduce(str(workdir))


# One condition each: the conditions of one group re-train together in the
# default sweep's tests above.
@pytest.mark.parametrize("name, path, axis, overrides, runs", [
    ("a2c", "configs/a2c_cartpole.py", ["model.init.preset=chrono"], RL, 2),
    # a module:factory of the user's, one of its two learning rates
    ("gru", "examples/gru_forecast.py", ["train.learning_rate=0.01"], GRU, 2),
    ("crossed", None, ["model.init.preset=pytorch"], CROSSED, 2),  # 2 init x 2 data seeds
])
def test_reproduce_other_experiments_and_designs(tmp_path, name, path, axis, overrides, runs):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  workdir = _sweep(tmp_path / name, path and os.path.join(root, path), axis, **overrides)
  rep = reproduce.reproduce(workdir, seeds=[0, 2], log=lambda s: None)
  assert rep.identical and len(rep.runs) == runs, reproduce.describe(rep)


def test_a_sweep_with_collapsed_conditions_reproduces(tmp_path):
  """Conditions that collapsed a value they do not read record no value for it;
  planned again from the records, the same three conditions re-train to the bit."""
  workdir = _sweep(tmp_path / "w", None, ["model.initial_state.strategy=zeros,noisy",
                                          "model.initial_state.noise_std=0.1,0.5"],
                   **{**SUPERVISED, "num_seeds": 2})
  record = json.load(open(os.path.join(workdir, "config.json")))
  assert [c["name"] for c in record["conditions"]] == [
      "strategy=zeros", "strategy=noisy,noise_std=0.1", "strategy=noisy,noise_std=0.5"]
  rep = reproduce.reproduce(workdir, seeds=[1], log=lambda s: None)
  assert rep.identical and len(rep.runs) == 3, reproduce.describe(rep)
