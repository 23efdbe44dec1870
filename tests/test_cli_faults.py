"""Faults at the edge of a run: host device counts, a stop signal before
training, absurd seed counts, a folder given as the config, a path component
too long. Each is one line (or one `ConfigError`) and writes nothing."""

import os
import signal
import subprocess
import sys
import time

import pytest

import lstm_init
from lstm_init.engine import sweep
from lstm_init.engine.runtime import devices
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.errors import ConfigError
from tests import forked
from tests.helpers import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.num_seeds=2", "--config.task.length=6", "--config.model.hidden_size=4",
        "--config.task.eval_size=32", "--config.seed_group=1", "--config.report=False",
        "--compilation_cache=off"]


def _run(*args, env=None, timeout=120):
  # A process forked from the tests' server (tests/forked.py): the entry point as
  # `python -m` runs it, without paying the interpreter's and JAX's import again.
  return forked.run(["-m", "experiments.seed_sweep", *args], env=dict(os.environ, **(env or {})),
                    timeout=timeout)


def _one_line(out, status, *pieces):
  assert out.returncode == status, out.stdout[-2000:] + out.stderr[-2000:]
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-2000:]
  for piece in pieces:
    assert piece in lines[0], (piece, lines[0])


@pytest.mark.parametrize("text, message", [
    ("abc", "is not a whole number"), ("2.5", "is not a whole number"),
    ("0", "at least one host device"), ("-1", "at least one host device"),
    ("1000", "is more than the")])
def test_cpu_devices_is_a_whole_number_from_one_to_the_cores(monkeypatch, text, message):
  monkeypatch.delenv("LSTM_INIT_CPU_DEVICES", raising=False)
  cores = devices.cores()
  with pytest.raises(ConfigError, match=message) as e:
    devices.requested([f"--cpu_devices={text}"])
  assert f"valid: 1 to {cores} (the CPU cores" in str(e.value)
  monkeypatch.setenv("LSTM_INIT_CPU_DEVICES", text)
  with pytest.raises(ConfigError, match=f"LSTM_INIT_CPU_DEVICES='?{text}'?[ :].*{message}"):
    devices.requested([])


def test_cpu_devices_within_the_cores_are_taken_in_both_spellings(monkeypatch):
  monkeypatch.delenv("LSTM_INIT_CPU_DEVICES", raising=False)
  cores = devices.cores()
  assert devices.requested([f"--cpu_devices={cores}"]) == cores
  assert devices.requested(["--cpu_devices", "1"]) == 1
  assert devices.requested(["--other=3"]) is None
  with pytest.raises(ConfigError, match=f"--cpu_devices={cores + 1} is more than the {cores} CPU"):
    devices.requested(["--cpu_devices", str(cores + 1)])
  monkeypatch.setenv("LSTM_INIT_CPU_DEVICES", "1")
  assert devices.requested([]) == 1


def test_bad_cpu_devices_are_one_line_before_the_flags_are_parsed(tmp_path):
  wd = tmp_path / "w"
  _one_line(_run("--cpu_devices=1000", f"--workdir={wd}", "--dry_run"), 2,
            f"--cpu_devices=1000 is more than the {devices.cores()} CPU core(s)")
  _one_line(_run(f"--workdir={wd}", "--dry_run", env={"LSTM_INIT_CPU_DEVICES": "abc"}), 2,
            "LSTM_INIT_CPU_DEVICES='abc' is not a whole number")
  assert not wd.exists()


def test_cpu_devices_take_effect(tmp_path):
  # Importing an entry point must not start JAX's backend (a library that
  # computes on import would fix the device count before the entry point sets it).
  # Given nothing (tests/conftest.py gives LSTM_INIT_CPU_DEVICES=1), one device per core.
  cores = devices.cores()
  env = {k: v for k, v in os.environ.items() if k != devices.ENV}
  out = subprocess.run([sys.executable, "-m", "experiments.seed_sweep", "--dry_run",
                        f"--workdir={tmp_path / 'w'}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"on cpu: {cores} device(s)" in out.stdout, out.stdout[:500]
  # The flag wins over the variable (a forked process: its backend starts after the flag).
  out = _run(f"--cpu_devices={cores}", f"--workdir={tmp_path / 'f'}", "--dry_run")
  assert out.returncode == 0 and f"on cpu: {cores} device(s)" in out.stdout, out.stderr[-2000:]


def test_sigterm_before_training_ends_the_process_at_once(tmp_path):
  # One piece of 4000 steps: without an early stop the signal would wait for
  # the whole piece (the loop checks for a stop only between pieces).
  wd = tmp_path / "w"
  proc = subprocess.Popen([sys.executable, "-u", "-m", "experiments.seed_sweep", *TINY,
                           "--config.train.steps=4000", "--config.train.log_every=4000",
                           "--cpu_devices=1", f"--workdir={wd}"], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  try:
    for line in proc.stdout:  # the entry point has started: planning and compiling follow
      if line.startswith("compilation cache:"):
        break
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    waited = time.monotonic() - sent
  finally:
    if proc.poll() is None:
      proc.kill()
  print(f"exited {waited:.2f} s after SIGTERM")
  assert waited < 10, waited
  assert proc.returncode == 130, err[-2000:]
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: interrupted by SIGTERM before "
                                                 "training began"), err[-2000:]
  assert not (wd / "results.csv").exists() and not (wd / "checkpoint.msgpack").exists()


@pytest.mark.parametrize("field, value", [("num_seeds", 2 ** 63 - 1), ("num_seeds", 2 ** 70),
                                          ("num_seeds", 2 ** 24 + 1)])
def test_absurd_seed_counts_are_refused_while_planning(tmp_path, field, value):
  cfg = tiny_config()
  cfg[field] = value
  with pytest.raises(ConfigError, match=f"{field}={value} asks for {value:,} runs of one "
                     "condition; valid: at most 16,777,216"):
    plan_sweep(cfg)
  wd = tmp_path / "w"
  with pytest.raises(ConfigError, match="runs of one condition"):
    sweep.run_sweep(cfg, str(wd), log=lambda s: None)
  assert not wd.exists()  # nothing written: not config.json, not environment.json
  with pytest.raises(ConfigError, match="runs of one condition"):
    lstm_init.config(None, num_seeds=value)


def test_crossed_counts_and_seed_indices_are_bounded():
  cfg = tiny_config()
  cfg.design, cfg.num_init_seeds, cfg.num_data_seeds = "crossed", 2 ** 40, 2 ** 40
  with pytest.raises(ConfigError, match="num_init_seeds=1099511627776 x num_data_seeds="):
    plan_sweep(cfg)
  cfg.num_init_seeds, cfg.num_data_seeds, cfg.data_seed_offset = 2, 2, 2 ** 31 - 1
  with pytest.raises(ConfigError, match="data_seed_offset \\+ num_data_seeds - 1 = "
                     "2,147,483,648: seed indices go into the keys as int32"):
    plan_sweep(cfg)
  cfg.data_seed_offset = 2 ** 31 - 2  # the last index is 2**31 - 1: allowed
  assert plan_sweep(cfg).layouts[0]["data_seed"].max() == 2 ** 31 - 1


def test_a_config_folder_is_named_as_a_folder():
  _one_line(_run("--config=configs/", "--dry_run"), 2,
            "config file 'configs/' is a folder; valid: a Python file defining get_config()")
  with pytest.raises(ConfigError, match="is a folder"):
    lstm_init.config(os.path.join(ROOT, "configs"))


def test_a_workdir_name_too_long_is_one_line_and_writes_nothing(tmp_path):
  wd = tmp_path / ("x" * 300) / "run"
  with pytest.raises(ConfigError, match="File name too long") as e:
    sweep.run_sweep(tiny_config(), str(wd), log=lambda s: None)
  assert "\n" not in str(e.value) and str(tmp_path / ("x" * 300)) in str(e.value)
  assert os.listdir(tmp_path) == []
