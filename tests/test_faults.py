"""Faults a sweep meets, in process: each is one `ConfigError` line naming the bad
value and what is valid, and nothing already written is lost or touched."""

import json
import os
import socket
import subprocess
import sys

import pytest

from lstm_init import ConfigError, api
from lstm_init.engine import sweep
from lstm_init.engine.execute.runs import group_runs
from lstm_init.engine.persist.workdir import Workdir
from lstm_init.engine.spec import plan as plan_lib
from tests.helpers import tiny_config


@pytest.mark.parametrize("body, pieces", [
    ("def get_config():\n  raise RuntimeError('no data here')\n",
     ["get_config raised RuntimeError: no data here"]),
    ("x = 1\n", ["has no get_config()"]),
    ("def get_config():\n  return {'a': 1}\n", ["get_config() returned a dict"]),
    ("def get_config(:\n", ["failed to load: SyntaxError"]),
])
def test_a_config_file_error_is_one_line_naming_the_file(tmp_path, body, pieces):
  path = tmp_path / "mine.py"
  path.write_text(body)
  with pytest.raises(ConfigError) as e:
    api.config(str(path))
  assert f"config file {path}" in str(e.value) and "\n" not in str(e.value)
  for p in pieces:
    assert p in str(e.value), (p, str(e.value))
  with pytest.raises(ConfigError, match="is a folder"):
    api.config(str(tmp_path))


@pytest.mark.parametrize("spec, pieces", [
    ("train.learning_rate=0.1,0.10", "gives the value '0.10' twice"),
    ("model.num_layers=1,,2", "value 2 of 3 is empty"),
])
def test_sweep_values_are_said_once(spec, pieces):
  with pytest.raises(ConfigError, match=pieces):
    plan_lib.plan_sweep(tiny_config(), [spec])


def test_a_live_sweep_holds_its_workdir_and_a_dead_ones_lock_is_taken_over(tmp_path):
  wd = tmp_path / "w"
  os.makedirs(wd)
  live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  try:
    (wd / ".lock").write_text(json.dumps({"pid": live.pid, "host": socket.gethostname(),
                                          "since": "then"}))
    with pytest.raises(ConfigError, match=rf"is being written by process {live.pid} on this "
                                          r"host .*choose another --workdir"):
      sweep.run_sweep(tiny_config(), str(wd), log=lambda s: None)
    assert not (wd / "config.json").exists()
  finally:
    live.kill()
    live.wait()
  lines = []
  with Workdir(str(wd)).locked(lines.append):  # the same lock, its process gone
    pass
  assert f"workdir lock: process {live.pid} on {socket.gethostname()}" in lines[0]
  assert "taking its lock over" in lines[0] and not (wd / ".lock").exists()


def test_a_sweep_larger_than_its_records_can_hold_is_refused_before_training(tmp_path):
  # 10^7 seeds x 3 presets: planned with a few bytes per run (no list of every run,
  # keys per chunk), then refused by the size of its records, before anything is written.
  cfg = api.config()
  cfg.num_seeds, cfg.train.steps = 10_000_000, 1
  with pytest.raises(ConfigError, match=r"30,000,000 runs need about .* GiB of host memory for "
                                        r"their records .*valid choices: fewer seeds"):
    sweep.run_sweep(cfg, str(tmp_path / "w"), log=lambda s: None)
  assert not (tmp_path / "w").exists()


def test_group_runs_are_made_on_demand_and_match_the_plain_list():
  cfg = tiny_config()
  cfg.num_seeds = 5
  plan = plan_lib.plan_sweep(cfg, ["model.init.preset=keras,pytorch,chrono"])
  runs = group_runs(plan, 0)
  plain = [(ci, r) for ci in plan.groups[0] for r in range(5)]
  assert len(runs) == 15 and list(runs) == plain
  assert runs[3:12] == plain[3:12] and runs[-1] == plain[-1]
  with pytest.raises(IndexError):
    runs[15]
