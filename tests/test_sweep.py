"""End to end: a tiny sweep writes every file with its schema; bad input exits cleanly."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lstm_init import ConfigError, sweep
from tests.helpers import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_sweep_writes_every_file(tmp_path):
  cfg = tiny_config()
  cfg.report = True
  wd = str(tmp_path / "run")
  sweep.run_sweep(cfg, wd, sweep=["model.init.preset=keras,pytorch"], log=lambda s: None)
  for name in ("config.json", "environment.json", "results.csv", "curves.npz", "summary.json",
               "metrics.jsonl", "report.md", "report.html", "table.tex",
               "figures/distribution.png", "figures/curves.png", "figures/ecdf.pdf"):
    assert os.path.exists(os.path.join(wd, name)), name
  rows = list(csv.DictReader(open(os.path.join(wd, "results.csv"))))
  assert len(rows) == 8
  for col in ("condition", "seed", "final_train_loss", "final_eval_loss", "final_eval_metric",
              "diverged", "model.init.preset"):
    assert col in rows[0]
  assert {r["condition"] for r in rows} == {"preset=keras", "preset=pytorch"}
  summary = json.load(open(os.path.join(wd, "summary.json")))
  s = summary["conditions"]["preset=keras"]
  for k in ("n", "mean", "std", "median", "iqm", "min", "max", "ci95_low", "ci95_high",
            "n_diverged"):
    assert k in s
  losses = [float(r["final_eval_loss"]) for r in rows if r["condition"] == "preset=keras"]
  assert abs(s["mean"] - np.mean(losses)) < 1e-6 and s["ci95_low"] <= s["mean"] <= s["ci95_high"]
  z = np.load(os.path.join(wd, "curves.npz"))
  assert z["eval_loss"].shape == (2, 4, 3)  # steps 0, 10, 20
  assert z["train_loss"].shape == (2, 4, 3) and z["steps"][0].tolist() == [0, 10, 20]
  assert z["per_timestep_loss"].shape == (2, 4, 8)
  np.testing.assert_allclose(z["eval_loss"][0, :, -1], losses, rtol=1e-6)
  env = json.load(open(os.path.join(wd, "environment.json")))
  for k in ("versions", "backend", "device_kinds", "device_count", "x64",
            "default_matmul_precision", "xla_flags", "command", "git_commit"):
    assert k in env
  lines = open(os.path.join(wd, "metrics.jsonl")).read().splitlines()
  assert len(lines) == 2 and json.loads(lines[0])["step"] == 10
  md = open(os.path.join(wd, "report.md")).read()
  assert "preset=keras" in md and "figures/distribution.png" in md


def _cli(*args, workdir):
  return subprocess.run([sys.executable, "-m", "experiments.seed_sweep",
                         f"--workdir={workdir}", "--config.num_seeds=2", "--config.train.steps=2",
                         "--config.train.eval_every=1", "--config.report=False", *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cli_runs_and_prints_the_table(tmp_path):
  out = _cli("--config.task.length=6", "--config.model.hidden_size=4", workdir=tmp_path / "ok")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "Final validation loss per condition" in out.stdout
  assert "preset=keras" in out.stdout and "preset=flax_linen" in out.stdout


BAD = [
    (["--config.task.name=addition"], "unknown task 'addition'; valid choices: adding"),
    (["--config.model.init.preset=kerass", "--sweep=train.learning_rate=0.1"],
     "unknown preset 'kerass'; valid choices: chrono"),
    (["--config.train.optimizer=adamm"], "unknown optimizer 'adamm'; valid choices: adam"),
    (["--config.model.initial_state.strategy=learnt"],
     "unknown initial-state strategy 'learnt'; valid choices: carried"),
    (["--config.num_seeds=0"], "num_seeds must be >= 1, got 0"),
    (["--sweep=model.init.preset"], "malformed --sweep 'model.init.preset'"),
    (["--sweep=model.init.presett=keras"], "unknown config field 'model.init.presett'"),
    (["--config.model.hidden_size=0"], "model.hidden_size must be >= 1, got 0"),
    (["--config.task.name=digits", "--config.train.batch_size=5000"],
     "batch_size 5000 is larger than the"),
    (["--config.fixed_streams=dta"], "unknown stream 'dta'; valid choices: data"),
    (["--config.train.stateful=True"], "stateful training needs a task"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_one_line_no_traceback_nothing_lost(tmp_path, args, message):
  wd = tmp_path / "kept"
  wd.mkdir()
  (wd / "results.csv").write_text("precious\n")
  out = _cli(*args, workdir=wd)
  assert out.returncode != 0
  assert "Traceback" not in out.stderr
  errors = [l for l in out.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and message in errors[0], out.stderr[-2000:]
  assert (wd / "results.csv").read_text() == "precious\n"


def test_mistyped_config_field_fails_without_traceback(tmp_path):
  out = _cli("--config.model.hidden_sise=3", workdir=tmp_path / "x")
  assert out.returncode != 0 and "Traceback" not in out.stderr
  assert "hidden_sise" in out.stderr


def test_sweep_parsing_types_and_product():
  cfg = tiny_config()
  conds = sweep.expand_conditions(cfg, ["model.init.preset=keras,pytorch",
                                        "model.init.forget_bias=0,1", "train.stateful=false"])
  assert len(conds) == 4
  assert conds[1].config.model.init.forget_bias == 1.0
  assert conds[1].name == "preset=keras,forget_bias=1.0,stateful=False"
  with pytest.raises(ConfigError, match="bad value 'x' for model.hidden_size"):
    sweep.expand_conditions(cfg, ["model.hidden_size=x"])


def test_missing_config_file_is_one_line(tmp_path):
  out = subprocess.run([sys.executable, "-m", "experiments.seed_sweep",
                        "--config=configs/does_not_exist.py", f"--workdir={tmp_path}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  assert "error: cannot load the config file" in out.stderr and "does_not_exist.py" in out.stderr
