"""Metric writers (engine.persist.writers): the registry, a MultiWriter, JSON lines,
and TensorBoard files read back with TensorBoard's own event reader."""

import json
import os

import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.engine import sweep
from lstm_init.engine.persist import writers
from tests.helpers import tiny_config


class Recorder(writers.MetricWriter):
  def __init__(self):
    self.calls = []

  def write_scalars(self, step, scalars):
    self.calls.append(("scalars", step, dict(scalars)))

  def write_record(self, record):
    self.calls.append(("record", record["step"]))

  def close(self):
    self.calls.append(("close",))


def test_a_multiwriter_hands_every_call_to_each_writer_in_order(tmp_path):
  a, b = Recorder(), Recorder()
  multi = writers.MultiWriter([a, b])
  multi.write_scalars(3, {"x": 1.0})
  multi.write_record({"step": 7})
  multi.close()
  assert a.calls == b.calls == [("scalars", 3, {"x": 1.0}), ("record", 7), ("close",)]


def test_the_registry_makes_writers_by_name_and_refuses_unknown_ones(tmp_path):
  made = writers.make_writers(("jsonl",), str(tmp_path))
  made.write_record({"step": 1, "conditions": ["a"], "eval_loss": np.array([0.5])})
  made.close()
  assert json.loads(open(tmp_path / "metrics.jsonl").read())["eval_loss"] == [0.5]
  with pytest.raises(ConfigError, match=r"writers='jsonl,wandb': unknown writer 'wandb'; "
                                        r"valid choices: jsonl, tensorboard"):
    writers.check_writers(("jsonl", "wandb"))
  with pytest.raises(ConfigError, match="jsonl is always written"):
    writers.check_writers(("tensorboard",))


def test_quantile_scalars_leave_out_runs_that_are_not_finite():
  out = writers.quantile_scalars({"loss": np.array([1.0, 2.0, 3.0, np.nan]),
                                  "none": np.array([np.nan])})
  assert out["loss/median"] == 2.0 and "none/median" not in out
  np.testing.assert_allclose(out["loss/q10"], np.quantile([1.0, 2.0, 3.0], 0.1))


@pytest.mark.parametrize("chunk", [0, 2])
def test_tensorboard_files_hold_the_curves_quantiles_and_final_medians(tmp_path, chunk):
  """Written live, piece by piece (a condition in several chunks: at the end),
  they equal the quantiles over all of a condition's runs in curves.npz."""
  from tensorboard.backend.event_processing import event_accumulator
  cfg = tiny_config()
  cfg.num_seeds, cfg.max_chunk_seeds = 3, chunk
  cfg.train.steps, cfg.train.log_every = 12, 4
  cfg.writers = "jsonl,tensorboard"
  wd = str(tmp_path / "run")
  res = sweep.run_sweep(cfg, wd, sweep=["model.init.preset=keras,pytorch"], log=lambda s: None)
  curves = res.curve_arrays
  for ci, name in enumerate(res.conditions):
    folder = os.path.join(wd, "tensorboard", writers.folder_name(name))
    acc = event_accumulator.EventAccumulator(folder)
    acc.Reload()
    steps = curves["steps"][ci][curves["steps"][ci] >= 0]
    for curve in writers.CURVES:
      for tag, q in writers.QUANTILES.items():
        events = acc.Scalars(f"{curve}/{tag}")
        if curve == "train_loss":  # no training loss before the first step
          assert [e.step for e in events] == list(steps[1:])
          want = np.quantile(curves[curve][ci][:, 1:len(steps)], q, axis=0)
        else:
          assert [e.step for e in events] == list(steps)
          want = np.quantile(curves[curve][ci][:, :len(steps)], q, axis=0)
        np.testing.assert_allclose([e.value for e in events], want, rtol=1e-6)
    final = acc.Scalars("final_eval_loss/median")
    assert final[0].step == steps[-1]
    np.testing.assert_allclose(final[0].value, np.median(res.column(name, "final_eval_loss")),
                               rtol=1e-6)
