"""The host loop (engine.execute.loop) and its hooks, driven by a given clock:
checkpoints when the clock says so, one host sync per piece, progress and ETA."""

import json

import jax
import numpy as np
import pytest

from lstm_init.engine.execute import hooks
from lstm_init.engine.execute.loop import Loop
from lstm_init.engine.persist import checkpoint, writers
from lstm_init.engine.persist.workdir import Workdir
from lstm_init.engine.spec.plan import plan_sweep
from tests.helpers import tiny_config


class FakeClock:
  """Seconds that move only when told to (or by `step` at every reading)."""

  def __init__(self, step: float = 0.0):
    self.now, self.step = 1000.0, step

  def __call__(self) -> float:
    self.now += self.step
    return self.now


def _event(seed_steps=400, step=100, runs=4):
  return hooks.PieceDone(group=0, chunk=0, step=step, total_steps=200,
                         conditions=["a"] * runs, seed_steps=seed_steps, label="[chunk]",
                         train_loss=np.array([1.0, 2.0, 3.0, np.nan]),
                         eval_loss=np.arange(runs, dtype=float), eval_metric=np.ones(runs))


def test_progress_lines_report_rate_and_eta_from_the_given_clock():
  clock, lines = FakeClock(), []
  progress = hooks.ProgressLines(total_seed_steps=2000, log=lines.append, clock=clock)
  progress.skip(600)  # finished before a resumption: counted, not part of the rate
  clock.now += 4.0
  progress.on_piece(_event(seed_steps=400))
  # 400 seed-steps in 4 s: 100/s; 2000 - 1000 left: 10 s.
  assert "| 100 seed-steps/s | ETA 0:10 |" in lines[0], lines[0]
  assert "train loss median 2 [1.2, 2.8]" in lines[0]  # the NaN run left out
  assert "[chunk] step 100/200" in lines[0]
  assert hooks.format_duration(3725) == "1:02:05"


def test_every_is_due_once_its_period_has_passed():
  clock = FakeClock()
  timer = hooks.Every(30.0, clock)
  assert timer.due()  # before the first mark
  timer.mark()
  clock.now += 29.0
  assert not timer.due()
  clock.now += 1.0
  assert timer.due()
  assert hooks.Every(0.0, clock).due()


def test_metrics_log_writes_one_json_line_per_piece(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  log = hooks.MetricsLog(writers.JsonlWriter(path))
  log.on_piece(_event())
  log.on_piece(_event(step=200))
  lines = [json.loads(l) for l in open(path)]
  assert [l["step"] for l in lines] == [100, 200]
  assert lines[0]["eval_loss"] == [0.0, 1.0, 2.0, 3.0] and lines[0]["runs"] == 4


def _plan(**fields):
  cfg = tiny_config()
  cfg.num_seeds = 2
  cfg.seed_group = 1
  cfg.train.steps, cfg.train.log_every, cfg.train.eval_every = 8, 2, 1
  for k, v in fields.items():
    setattr(cfg, k, v)
  return plan_sweep(cfg, [])


@pytest.mark.parametrize("tick,mid_chunk_saves", [(0.0, 1), (100.0, 3)])
def test_the_loop_checkpoints_when_its_clock_says_so(tmp_path, monkeypatch, tick,
                                                     mid_chunk_saves):
  """Four pieces, checkpoints due every 30 s: a clock that stands still allows one
  save between pieces (the first is always due); one that moves 100 s at every
  reading makes every one of the three due. The chunk's end always saves."""
  saved = []
  real = checkpoint.encode
  monkeypatch.setattr(checkpoint, "encode", lambda state, runs=None, plan=None:
                      saved.append(runs is not None) or real(state, runs, plan))
  plan = _plan(checkpoint_every_s=30.0)
  lines = []
  clock = FakeClock(tick)
  loop = Loop(plan, Workdir(str(tmp_path)), lines.append, clock=clock)
  loop.hooks = [hooks.ProgressLines(plan.seed_steps(), lines.append, clock=clock)]
  loop.run()
  assert saved.count(True) == mid_chunk_saves and saved.count(False) == 1, saved
  assert sum("seed-steps/s" in l for l in lines) == 4


def test_the_loop_syncs_with_the_host_once_per_piece(tmp_path, monkeypatch):
  """Under transfer_guard_device_to_host("disallow") no array comes back to the
  host implicitly (no `float(x)`, `np.asarray(x)` or `if x:` on a device array);
  counting the explicit transfers: one validation before training, one per
  piece, the first piece's checkpoint, one final evaluation."""
  plan = _plan(checkpoint_every_s=1e9)
  gets = []
  real = jax.device_get
  monkeypatch.setattr(jax, "device_get", lambda x: gets.append(1) or real(x))
  loop = Loop(plan, Workdir(str(tmp_path)), lambda s: None)
  with jax.transfer_guard_device_to_host("disallow"):
    outputs = loop.run()
  pieces = len(plan.conditions[0].schedule.pieces)
  assert pieces == 4
  assert len(gets) == 1 + pieces + 1 + 1, len(gets)  # + the checkpoint's state at the first piece
  assert np.isfinite(outputs[0]["final_eval_loss"]).all()


def test_the_hooks_see_every_validation_of_every_piece(tmp_path):
  """Each piece's event carries its validations (step 0 first in the first
  piece), equal to what the loop records as the curves."""
  plan = _plan(checkpoint_every_s=1e9)
  seen = []

  class Keep(hooks.Hook):
    def on_piece(self, event):
      seen.append(event.curves)

  loop = Loop(plan, Workdir(str(tmp_path)), lambda s: None, hooks=[Keep()])
  outputs = loop.run()
  steps = [s for c in seen for s in c["steps"]]
  assert steps == list(plan.conditions[0].schedule.evals)
  joined = np.concatenate([c["eval_loss"] for c in seen], axis=1)
  np.testing.assert_array_equal(joined, outputs[0]["eval_loss"])
