"""Sweeps that scale and survive: sharding, memory chunks, kill and resume."""

import csv
import json
import os
import signal
import textwrap
import time

import numpy as np
import pytest

import lstm_init
from lstm_init import ConfigError
from lstm_init.engine import sweep
from tests import forked
from tests.helpers import bits, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The command lines run in processes of their own, forked from a server that has
# imported JAX and lstm_init once (tests/forked.py): real processes, real signals.
# Sharded, chunked, resumed and multi-process runs compute each seed with the
# same single-device program, so their results are the same bits: every
# result column of results.csv (written exactly) must be equal text.


def _losses(path):
  with open(path) as f:
    return {(r["condition"], r["seed"]): tuple(v for k, v in r.items() if k.startswith("final"))
            for r in csv.DictReader(f)}


def _assert_same(a, b):
  assert a.keys() == b.keys()
  differ = [k for k in a if a[k] != b[k]]
  assert not differ, [(k, a[k], b[k]) for k in differ[:3]]


def test_sharded_over_two_cpu_devices_equals_one_device(tmp_path):
  # Each device compiles its own copy of every program (one per device, in parallel
  # threads), so two devices show what more would: groups round-robin over devices,
  # padding, one executable per device.
  cfg = tiny_config()
  cfg.num_seeds = 3  # does not divide 2: padded
  sweep.run_sweep(cfg, str(tmp_path / "one"), log=lambda s: None)
  code = textwrap.dedent(f"""
      import jax
      assert jax.device_count() == 2, jax.devices()
      from lstm_init.engine import sweep
      from tests.helpers import bits, tiny_config
      cfg = tiny_config(); cfg.num_seeds = 3
      sweep.run_sweep(cfg, {str(tmp_path / 'two')!r}, log=print)
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  out = forked.run(["-c", code], env=env, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "over 2 device(s)" in out.stdout
  _assert_same(_losses(tmp_path / "two" / "results.csv"),
               _losses(tmp_path / "one" / "results.csv"))


def test_seed_group_is_timed_only_when_asked_and_says_what_that_means(tmp_path, monkeypatch):
  from lstm_init.engine.execute import seed_group_timing as seed_groups
  # Remember choices in a fresh folder, so this run times; two of the CPU's candidates
  # (each compiles its own programs).
  monkeypatch.setattr(seed_groups, "cache_path", lambda: str(tmp_path / "seed_groups.json"))
  monkeypatch.setattr(seed_groups, "CPU_CANDIDATES", seed_groups.CPU_CANDIDATES[:2])
  lines = []
  cfg = tiny_config()
  cfg.seed_group = -1  # the backend's fixed size: nothing is timed
  sweep.run_sweep(cfg, str(tmp_path / "rule"), log=lines.append)
  assert not [l for l in lines if l.startswith("seed_group:")]
  env = json.load(open(tmp_path / "rule" / "environment.json"))
  assert env["seed_groups"] == [1] and env["seed_group_rule"] == "the backend's fixed size (cpu: 1)"
  for i in range(2):
    cfg.seed_group_timing = True
    sweep.run_sweep(cfg, str(tmp_path / f"timed{i}"), log=lines.append)
  measured, recalled = [l for l in lines if l.startswith("seed_group:")]
  for c in seed_groups.CPU_CANDIDATES:
    assert f" {c}: " in measured, measured
  chosen = int(measured.split("->")[1].split()[0])
  assert "per-seed results depend on this timed choice" in measured
  assert recalled.startswith(f"seed_group: {chosen} run(s) at a time per device (timed before")
  assert "per-seed results depend" in recalled
  env = json.load(open(tmp_path / "timed1" / "environment.json"))
  assert env["seed_groups"] == [chosen] and env["seed_group_rule"].startswith("timed")


@pytest.mark.parametrize("group", [1, 4])
def test_a_seed_is_the_same_bits_alone_among_others_and_in_chunks(tmp_path, group):
  alone, among, chunked = tiny_config(), tiny_config(), tiny_config()
  alone.num_seeds, among.num_seeds, chunked.num_seeds = 1, 7, 7
  chunked.max_chunk_seeds = 3 * group
  for c in (alone, among, chunked):
    c.seed_group = group
  a, b, c = (sweep.run_sweep(cfg, str(tmp_path / name), log=lambda s: None)
             for name, cfg in (("alone", alone), ("among", among), ("chunked", chunked)))
  assert bits(a.rows)[0] == bits(b.rows)[0]
  assert bits(b.rows) == bits(c.rows)
  steps = [np.load(tmp_path / n / "curves.npz")["train_loss_every_step"][0, :1]
           for n in ("alone", "among", "chunked")]
  assert np.array_equal(steps[0], steps[1]) and np.array_equal(steps[1], steps[2])


def test_the_accelerator_group_size_on_the_cpu_seed_0_alone_equals_among_300(tmp_path):
  """The GPU/TPU default, forced on the CPU: 256 runs computing together."""
  rows = {}
  for n in (1, 300):
    cfg = tiny_config()
    cfg.num_seeds, cfg.seed_group, cfg.train.steps = n, 256, 4
    cfg.train.eval_every = cfg.train.log_every = 2
    cfg.task.length, cfg.model.hidden_size, cfg.train.batch_size = 4, 4, 4
    cfg.task.eval_size = 8
    rows[n] = sweep.run_sweep(cfg, str(tmp_path / str(n)), log=lambda s: None).rows
  assert bits(rows[1])[0] == bits(rows[300])[0]
  assert len({r["final_eval_loss"] for r in rows[300]}) > 250  # the seeds differ


def test_seed_group_zero_and_timing_beside_a_given_size_are_refused():
  from lstm_init.engine.spec.schema import check_config
  cfg = tiny_config()
  cfg.seed_group = 0
  with pytest.raises(ConfigError, match="0 .all runs at once. is gone"):
    check_config(cfg)
  cfg.seed_group, cfg.seed_group_timing = 4, True
  with pytest.raises(ConfigError, match="seed_group_timing=True .* needs seed_group=-1"):
    check_config(cfg)


def test_memory_budget_splits_into_chunks_with_equal_results(tmp_path):
  from lstm_init.engine.execute import placement, programs as programs_lib
  from lstm_init.engine.spec import plan as plan_lib
  whole = tiny_config()
  sweep.run_sweep(whole, str(tmp_path / "whole"), log=lambda s: None)
  # XLA's analysis of one group's programs, as the sweep reads it.
  plan = plan_lib.plan_sweep(whole)
  programs = programs_lib.ConditionGroupPrograms(plan, plan.groups[0], placement.run_mesh(1), 1)
  segments = plan.conditions[0].schedule.pieces[0].segments
  held, temp = programs.run_bytes(programs.abstract_group((0, 0)), plan.experiments[0].data,
                                  segments)
  small = tiny_config()
  small.memory_budget_gb = (temp + 2.5 * held) / 2**30  # one device: room for two runs
  lines = []
  sweep.run_sweep(small, str(tmp_path / "small"), log=lines.append)
  chunk_line = next(l for l in lines if l.startswith("memory:"))
  per_chunk = int(chunk_line.split("->")[1].split()[0])
  assert per_chunk == 2, chunk_line
  _assert_same(_losses(tmp_path / "small" / "results.csv"),
               _losses(tmp_path / "whole" / "results.csv"))
  # Less than one group's need is refused with one line, before training.
  small.memory_budget_gb = (temp + 0.5 * held) / 2**30
  with pytest.raises(ConfigError, match="seed_group=1 needs about .* GiB for one group"):
    sweep.run_sweep(small, str(tmp_path / "tiny"), log=lambda s: None)


SLOW = ["--config.task.length=8", "--config.num_seeds=4",
        "--config.train.steps=150", "--config.train.log_every=10", "--config.report=False",
        "--config.checkpoint_every_s=0", "--config.task.eval_size=64",
        "--config.seed_group=1", "--sweep=model.hidden_size=8,12"]


def _start(workdir):
  return forked.start(["-m", "experiments.seed_sweep", f"--workdir={workdir}", *SLOW])


def _wait_for_metrics(workdir, lines, proc, timeout=240):
  path = os.path.join(workdir, "metrics.jsonl")
  t0 = time.time()
  while time.time() - t0 < timeout:
    if os.path.exists(path) and len(open(path).read().splitlines()) >= lines:
      return
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    time.sleep(0.05)
  raise AssertionError("no progress")


def test_sigterm_then_sigkill_then_resume_equals_uninterrupted(tmp_path):
  """The supervised path's kill and resume, through the command line: SIGTERM
  (a scheduler's notice) checkpoints, writes partial results and says so in one
  line; SIGKILL later leaves the last checkpoint; the same command resumes each
  time, and the results are the bits of a run never stopped."""
  wd = tmp_path / "stopped"
  proc = _start(wd)
  _wait_for_metrics(wd, 6, proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
  assert err.strip().startswith("error: interrupted: checkpoint written") and len(
      err.strip().splitlines()) == 1, err
  assert "run the same command again to resume" in err
  assert os.path.exists(wd / "checkpoint.msgpack") and os.path.exists(wd / "results.partial.csv")
  proc = _start(wd)
  _wait_for_metrics(wd, 20, proc)  # inside the second group (15 pieces per group)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(wd / "results.csv")
  resumed = _start(wd)
  out, err = resumed.communicate(timeout=600)
  assert resumed.returncode == 0, err[-2000:]
  assert "resuming from" in out and not os.path.exists(wd / "results.partial.csv")
  # A run never stopped: the same values through the Python API, in this process.
  never_stopped = [a[len("--config."):].split("=", 1) for a in SLOW if a.startswith("--config.")]
  sweep_axes = [a[len("--sweep="):] for a in SLOW if a.startswith("--sweep=")]
  sweep.run_sweep(lstm_init.config(None, **dict(never_stopped)), str(tmp_path / "whole"),
                  sweep=sweep_axes, log=lambda s: None)
  _assert_same(_losses(wd / "results.csv"), _losses(tmp_path / "whole" / "results.csv"))


def test_workdir_with_another_config_is_refused(tmp_path):
  cfg = tiny_config()
  sweep.run_sweep(cfg, str(tmp_path), log=lambda s: None)
  before = open(tmp_path / "results.csv").read()
  other = tiny_config()
  other.train.learning_rate = 0.5
  with pytest.raises(ConfigError, match="holds results of a different config"):
    sweep.run_sweep(other, str(tmp_path), log=lambda s: None)
  assert open(tmp_path / "results.csv").read() == before
  sweep.run_sweep(other, str(tmp_path), log=lambda s: None, overwrite=True)
  assert open(tmp_path / "results.csv").read() != before


def _free_port() -> int:
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _readme_launch_lines():
  """The two-process launch lines of the large-sweeps guide: (env, argv) each."""
  guide = os.path.join(ROOT, "docs", "guides", "large_sweeps.md")
  lines = [l.rstrip(" &") for l in open(guide).read().splitlines()
           if l.startswith("LSTM_INIT_COORDINATOR=")]
  out = []
  for line in lines:
    words = line.split()
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    argv = words[words.index("python"):]
    out.append((env, argv))
  return out


# Tiny settings appended to the README's lines: one preset's 2 seeds, one per
# process, in 4 pieces of 10 steps. Process 1 is killed once process 0 logs the
# second piece (the first's checkpoint is written before that line); process 0
# cannot go on alone, since every piece exchanges.
TWO = ["--config.num_seeds=2", "--config.train.steps=40", "--config.train.log_every=10",
       "--config.train.eval_every=10", "--config.task.length=8", "--config.model.hidden_size=8",
       "--config.task.eval_size=32", "--config.train.batch_size=8", "--config.report=False",
       "--config.seed_group=1", "--config.checkpoint_every_s=0",
       "--sweep=model.init.preset=pytorch"]


def _launch(workdir, port):
  procs = []
  for env, argv in _readme_launch_lines():
    env = {k: v.replace("12355", str(port)) for k, v in env.items()}
    argv = [a.replace("runs/two", str(workdir)) for a in argv]
    procs.append(forked.start([*argv[1:], *TWO], env=dict(os.environ, **env),
                              unbuffered=True))  # python -u
  return procs


def _finish(procs, timeout=120):
  outs = []
  for p in procs:
    try:
      outs.append(p.communicate(timeout=timeout))
    except forked.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
  return outs


def test_two_processes_from_the_readme_survive_a_killed_worker_and_resume(tmp_path):
  # The README's multi-host lines on localhost: one host device per process,
  # cross-process collectives on the CPU, jax.distributed started first.
  assert len(_readme_launch_lines()) == 2
  wd = tmp_path / "two"
  procs = _launch(wd, _free_port())
  for line in procs[0].stdout_lines():  # process 0 logs; process 1 is silent
    if " step 20/" in line:
      break
  procs[1].send_signal(signal.SIGKILL)
  killed = time.time()
  (out0, err0), _ = _finish(procs)
  waited = time.time() - killed
  print(f"the survivor exited {waited:.2f} s after its partner was killed")
  assert procs[0].returncode == 1 and waited < 60
  assert "Traceback" not in err0
  assert err0.strip().splitlines()[-1].startswith(
      "error: process 0 of 2 lost contact with another process of this sweep"), err0[-2000:]
  assert not os.path.exists(wd / "results.csv") and os.path.exists(wd / "checkpoint.msgpack")
  # The same lines again resume from the checkpoint and finish.
  procs = _launch(wd, _free_port())
  outs = _finish(procs)
  assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
  assert "resuming from" in outs[0][0] and "2 process(es)" in outs[0][0]
  assert "Final validation loss" in outs[0][0] and "Final validation loss" not in outs[1][0]
  # The two-process workdir re-trains in one process from its records, to the bit.
  again = forked.run(["-m", "experiments.reproduce", f"--workdir={wd}"], timeout=240)
  assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
  assert "all 2 run(s) identical to the bit" in again.stdout
