"""Checkpoints (engine.persist.checkpoint): whole, of this plan, or refused in one
line; a sweep refuses a bad one before it writes anything, and resumes a good one."""

import hashlib
import os
import shutil

import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.engine import sweep
from lstm_init.engine.execute.state import SweepState
from lstm_init.engine.persist import checkpoint
from lstm_init.engine.spec.plan import plan_sweep
from tests.helpers import bits, tiny_config


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


def _plan(seeds=2):
  cfg = tiny_config()
  cfg.num_seeds = seeds
  return plan_sweep(cfg, [])


def test_a_checkpoint_round_trips_its_state_and_runs(tmp_path):
  plan = _plan()
  state = SweepState.fresh(plan)
  state.done[0] = 1
  runs = {"w": np.arange(6.0).reshape(2, 3)}
  path = tmp_path / "c"
  path.write_bytes(checkpoint.encode(state, runs, plan.identity))
  back = checkpoint.load_sweep(str(path), SweepState.fresh(plan), plan.identity)
  assert back.done.tolist() == [1]
  got = checkpoint.load_runs(str(path), {"w": np.zeros((1, 3))}, 2, plan.identity)
  np.testing.assert_array_equal(got["w"], runs["w"])


@pytest.mark.parametrize("how, problem", [
    ("empty", "is empty"), ("truncated", "is damaged (truncated or garbled"),
    ("garbled", "is damaged (truncated or garbled"), ("flipped", "fails its SHA-256 digest")])
def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path, how, problem):
  plan = _plan()
  path = tmp_path / "c"
  path.write_bytes(_damage(checkpoint.encode(SweepState.fresh(plan), None, plan.identity), how))
  with pytest.raises(ConfigError) as e:
    checkpoint.check(str(path), plan.identity)
  assert f"checkpoint {path} {problem}" in str(e.value) and f"mv {path} {path}.bad" in str(e.value)


def test_another_plans_checkpoint_is_refused_naming_what_differs(tmp_path):
  path = tmp_path / "c"
  path.write_bytes(checkpoint.encode(SweepState.fresh(_plan(3)), None, _plan(3).identity))
  with pytest.raises(ConfigError, match=r"was written by another sweep: its seeds \[3\], this "
                                        r"sweep's \[2\]"):
    checkpoint.check(str(path), _plan(2).identity)


def _digests(folder):
  return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
          for n in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, n))}


def test_a_sweep_refuses_a_bad_checkpoint_before_writing_and_resumes_a_good_one(tmp_path):
  cfg = tiny_config()
  cfg.checkpoint_every_s = 0.0
  wd = tmp_path / "run"
  first = sweep.run_sweep(cfg, str(wd), log=lambda s: None)
  for name in ("results.csv", "curves.npz", "summary.json"):  # as if it stopped at the end
    os.remove(wd / name)
  good = (wd / "checkpoint.msgpack").read_bytes()
  (wd / "checkpoint.msgpack").write_bytes(_damage(good, "flipped"))
  before = _digests(wd)
  with pytest.raises(ConfigError, match="fails its SHA-256 digest"):
    sweep.run_sweep(cfg, str(wd), log=lambda s: None)
  assert _digests(wd) == before
  (wd / "checkpoint.msgpack").write_bytes(good)
  lines = []
  again = sweep.run_sweep(cfg, str(wd), log=lines.append)
  assert any("resuming from" in l for l in lines)
  assert bits(again.rows) == bits(first.rows)
  done = []
  sweep.run_sweep(cfg, str(wd), log=done.append)
  assert "is finished: it holds this sweep's results; nothing to train" in done[0]
