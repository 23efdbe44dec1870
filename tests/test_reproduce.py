"""experiments.reproduce: re-training runs from a workdir's records, bit for bit.

Each case trains a tiny sweep through the real CLI, re-trains some of its runs
with `python -m experiments.reproduce`, and checks the verdict and the exit
status: 0 when every number and curve is the same bits, 1 when one differs,
2 when the workdir cannot be re-trained.
"""

import csv
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.num_seeds=3", "--config.train.steps=6", "--config.train.eval_every=2",
        "--config.train.log_every=3", "--config.report=False"]
SUPERVISED = ["--config.task.length=6", "--config.model.hidden_size=4",
              "--config.task.eval_size=32", *TINY]
RL = ["--config=configs/a2c_cartpole.py", "--sweep=model.init.preset=keras,chrono",
      "--config.rl.num_envs=4",
      "--config.rl.rollout_len=8", "--config.rl.eval_episodes=2",
      "--config.rl.curve_episodes=1", "--config.model.hidden_size=8", *TINY]
GRU = ["--config=examples/gru_forecast.py", "--config.gru.hidden_size=8",
       "--config.task.eval_rows=4", *TINY]
CROSSED = [*SUPERVISED, "--config.design=crossed", "--config.num_init_seeds=2",
           "--config.num_data_seeds=2", "--config.fixed_streams=noise",
           "--sweep=model.init.preset=keras,pytorch"]


def _run(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                        cwd=ROOT, timeout=300)


def _sweep(workdir, args):
  files = [a for a in args if a.startswith("--config=")]
  rest = [a for a in args if not a.startswith("--config=")]
  if any(a.startswith("--config.num_init_seeds") for a in rest):
    rest = [a for a in rest if not a.startswith("--config.num_seeds")]
  out = _run("experiments.seed_sweep", *files, f"--workdir={workdir}", *rest)
  assert out.returncode == 0, out.stderr[-3000:]
  return workdir


def _reproduce(workdir, *args):
  return _run("experiments.reproduce", f"--workdir={workdir}", *args)


@pytest.fixture(scope="module")
def supervised(tmp_path_factory):
  """The default sweep's three presets, at tiny sizes, with the backend's seed group."""
  return _sweep(tmp_path_factory.mktemp("supervised"), SUPERVISED)


def test_reproduce_the_default_sweep_then_a_edited_value_is_caught(supervised, tmp_path):
  out = _reproduce(supervised, "--seeds=0,2")
  assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
  assert "re-training 6 run(s)" in out.stdout
  assert "the backend's fixed size (cpu: 1)" in out.stdout
  assert out.stdout.count("identical (") == 6
  assert "all 6 run(s) identical to the bit" in out.stdout
  # One value of results.csv edited in its last digit: exit 1, the run named.
  edited = tmp_path / "edited"
  os.makedirs(edited)
  for name in ("config.json", "environment.json", "curves.npz", "results.csv"):
    with open(supervised / name, "rb") as f, open(edited / name, "wb") as g:
      g.write(f.read())
  rows = list(csv.DictReader(open(edited / "results.csv")))
  target = next(r for r in rows if r["condition"] == "preset=pytorch" and r["seed"] == "2")
  text = target["final_eval_loss"]
  target["final_eval_loss"] = text[:-1] + ("1" if text[-1] != "1" else "2")
  with open(edited / "results.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  out = _reproduce(edited, "--seeds=2", "--condition=preset=pytorch")
  assert out.returncode == 1, out.stderr[-3000:]
  assert "1 of 1 run(s) differ: preset=pytorch seed 2" in out.stdout
  assert f"final_eval_loss {target['final_eval_loss']} recorded, {text} recomputed" in out.stdout
  assert "the records or the code changed" in out.stdout  # the environment is the same


def test_a_workdir_that_cannot_be_retrained_gets_one_line(supervised, tmp_path):
  out = _reproduce(supervised, "--seeds=7")
  assert out.returncode == 2 and out.stderr.strip() == (
      f"error: seed 7 is not in {str(supervised)!r}; valid choices: 0 to 2")
  out = _reproduce(supervised, "--condition=preset=nope")
  assert out.returncode == 2 and "unknown condition 'preset=nope'" in out.stderr
  assert "valid choices: preset=keras, preset=pytorch, preset=flax_linen" in out.stderr
  old = tmp_path / "old"
  os.makedirs(old)
  for name in ("config.json", "curves.npz", "results.csv"):
    with open(supervised / name, "rb") as f, open(old / name, "wb") as g:
      g.write(f.read())
  env = json.load(open(supervised / "environment.json"))
  del env["seed_groups"], env["seed_group_rule"]  # as written before they were recorded
  json.dump(env, open(old / "environment.json", "w"))
  for workdir, missing in ((old, "does not record the seed group sizes"),
                           (tmp_path / "none", "is not a folder")):
    out = _reproduce(workdir)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and missing in out.stderr, out.stderr


@pytest.mark.parametrize("name, args, runs", [
    ("a2c", RL, 4),           # two of a2c_cartpole's presets, seeds 0 and 2
    ("gru", GRU, 4),          # a module:factory experiment of the user's
    ("crossed", CROSSED, 4),  # 2 init x 2 data seeds: seeds 0 and 2 of each preset
])
def test_reproduce_other_experiments_and_designs(tmp_path, name, args, runs):
  workdir = _sweep(tmp_path / name, args)
  out = _reproduce(workdir, "--seeds=0,2")
  assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
  assert f"all {runs} run(s) identical to the bit" in out.stdout, out.stdout
