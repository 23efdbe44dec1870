"""Faults a real sweep meets, through the CLI: each gets one line and exit 2, and
nothing already written is lost."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.num_seeds=2", "--config.train.steps=20", "--config.train.log_every=10",
        "--config.task.length=6", "--config.model.hidden_size=4", "--config.report=False",
        "--config.checkpoint_every_s=0", "--config.task.eval_size=32"]
RECORDS = ("results.csv", "config.json", "environment.json", "curves.npz", "summary.json")


def _sweep(*args, workdir=None):
  where = [f"--workdir={workdir}"] if workdir is not None else []
  return subprocess.run([sys.executable, "-m", "experiments.seed_sweep", *where, *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=300)


def _one_line(out, *pieces):
  assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
  for p in pieces:
    assert p in lines[0], (p, lines[0])
  return lines[0]


def _digests(workdir):
  return {n: hashlib.sha256(open(os.path.join(workdir, n), "rb").read()).hexdigest()
          for n in RECORDS}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished tiny sweep (its checkpoint stays beside the results) and another
  sweep's checkpoint (other seeds)."""
  root = tmp_path_factory.mktemp("faults")
  out = _sweep(*TINY, workdir=root / "run")
  assert out.returncode == 0, out.stderr[-2000:]
  other = _sweep(*TINY, "--config.num_seeds=3", workdir=root / "other")
  assert other.returncode == 0, other.stderr[-2000:]
  return root


def _damage(data: bytes, how: str) -> bytes:
  if how == "empty":
    return b""
  if how == "truncated":
    return data[:len(data) // 3]
  if how == "garbled":
    return bytes(range(256)) * 8
  flipped = bytearray(data)  # one bit of the saved state
  flipped[len(flipped) // 2] ^= 1
  return bytes(flipped)


@pytest.mark.parametrize("how, problem", [
    ("empty", "is empty"), ("truncated", "is damaged (truncated or garbled"),
    ("garbled", "is damaged (truncated or garbled"),
    ("flipped", "fails its SHA-256 digest"), ("foreign", "was written by another sweep: its "
                                                         "seeds [3, 3, 3], this sweep's [2, 2, 2]")])
def test_a_damaged_or_foreign_checkpoint_is_refused_and_nothing_is_touched(finished, tmp_path,
                                                                           how, problem):
  wd = tmp_path / "run"
  shutil.copytree(finished / "run", wd)
  ckpt = wd / "checkpoint.msgpack"
  if how == "foreign":
    shutil.copy(finished / "other" / "checkpoint.msgpack", ckpt)
  else:
    ckpt.write_bytes(_damage(ckpt.read_bytes(), how))
  saved, damaged = _digests(wd), ckpt.read_bytes()
  out = _sweep(*TINY, workdir=wd)
  _one_line(out, f"checkpoint {ckpt} {problem}", f"mv {ckpt} {ckpt}.bad",
            "put back a good copy")
  assert _digests(wd) == saved and ckpt.read_bytes() == damaged
  if how == "flipped":  # moved away, the same command starts afresh: the same results
    os.rename(ckpt, f"{ckpt}.bad")
    again = _sweep(*TINY, workdir=wd)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _digests(wd)["results.csv"] == saved["results.csv"]


def test_the_intact_checkpoint_resumes(finished, tmp_path):
  wd = tmp_path / "run"
  shutil.copytree(finished / "run", wd)
  out = _sweep(*TINY, workdir=wd)
  assert out.returncode == 0 and "resuming from" in out.stdout, out.stderr[-2000:]


@pytest.mark.parametrize("body, pieces", [
    ("def get_config():\n  raise RuntimeError('no data here')\n",
     ["get_config raised RuntimeError: no data here", "--trace"]),
    ("x = 1\n", ["has no get_config()"]),
    ("def get_config():\n  return {'a': 1}\n",
     ["get_config returned a value of type dict, expected an ml_collections.ConfigDict"]),
])
def test_a_config_file_error_is_one_line_naming_the_file(tmp_path, body, pieces):
  path = tmp_path / "mine.py"
  path.write_text(body)
  _one_line(_sweep(f"--config={path}", workdir=tmp_path / "w"), f"config file {path}", *pieces)
  assert not (tmp_path / "w").exists()


def test_trace_shows_the_config_files_traceback(tmp_path):
  path = tmp_path / "mine.py"
  path.write_text("def get_config():\n  raise RuntimeError('no data here')\n")
  out = _sweep(f"--config={path}", "--trace", workdir=tmp_path / "w")
  assert out.returncode == 2 and "Traceback" in out.stderr and f'File "{path}", line 2' in out.stderr
  assert out.stderr.strip().splitlines()[-1].startswith("error: config file")


@pytest.mark.parametrize("spec, pieces", [
    ("train.learning_rate=0.1,0.10", ["gives the value '0.10' twice"]),
    ("model.num_layers=1,,2", ["value 2 of 3 is empty"]),
])
def test_sweep_values_are_said_once(tmp_path, spec, pieces):
  _one_line(_sweep(*TINY, f"--sweep={spec}", workdir=tmp_path / "w"), *pieces)


def test_a_live_sweep_holds_its_workdir_and_a_dead_ones_lock_is_taken_over(tmp_path):
  wd = tmp_path / "w"
  os.makedirs(wd)
  live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
  try:
    (wd / ".lock").write_text(json.dumps({"pid": live.pid, "host": socket.gethostname(),
                                          "since": "then"}))
    _one_line(_sweep(*TINY, workdir=wd), f"is being written by process {live.pid} on this host",
              "choose another --workdir")
    assert not (wd / "config.json").exists()
  finally:
    live.kill()
    live.wait()
  out = _sweep(*TINY, workdir=wd)  # the same lock, its process gone
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"workdir lock: process {live.pid} on {socket.gethostname()}" in out.stdout
  assert "taking its lock over" in out.stdout and not (wd / ".lock").exists()


def test_a_sweep_larger_than_its_records_can_hold_is_refused_before_training(tmp_path):
  # 10^7 seeds x 3 presets: planned with a few bytes per run (no list of every run,
  # keys per chunk), then refused by the size of its records, before anything is written.
  out = _sweep("--config.num_seeds=10000000", "--config.train.steps=1", workdir=tmp_path / "w")
  _one_line(out, "30,000,000 runs need about", "GiB of host memory for their records",
            "valid choices: fewer seeds")
  assert not (tmp_path / "w").exists()


def test_group_runs_are_made_on_demand_and_match_the_plain_list():
  from lstm_init.engine.spec import plan as plan_lib
  from lstm_init.engine.execute.runs import group_runs
  from tests.helpers import tiny_config
  cfg = tiny_config()
  cfg.num_seeds = 5
  plan = plan_lib.plan_sweep(cfg, ["model.init.preset=keras,pytorch,chrono"])
  runs = group_runs(plan, 0)
  plain = [(ci, r) for ci in plan.groups[0] for r in range(5)]
  assert len(runs) == 15 and list(runs) == plain
  assert runs[3:12] == plain[3:12] and runs[-1] == plain[-1]
  with pytest.raises(IndexError):
    runs[15]
