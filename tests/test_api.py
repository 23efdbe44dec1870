"""The flag-free Python API: configs, sweeps and results as DataFrames, the
command line's errors as exceptions, resumption after an interrupt, and the
aggregation across tasks checked against rliable. (The interrupted call runs in
a process forked from a server that has imported JAX and lstm_init once:
tests/forked.py.)"""

import json
import os
import shutil
import signal
import time

import numpy as np
import pandas as pd
import pytest

import lstm_init
from lstm_init import ConfigError
from lstm_init.report import aggregate as aggregate_lib
from tests import forked
from tests.helpers import bits

TINY = {"num_seeds": 3, "train.steps": 8, "train.log_every": 4, "train.eval_every": 2,
        "task.length": 8, "task.eval_size": 32, "model.hidden_size": 4, "report": False}


@pytest.fixture(autouse=True)
def _keep_xla_flags(monkeypatch):
  """`lstm_init.sweep` asks for one host device per core through XLA_FLAGS (before
  JAX's backend starts, as the command line does); the command lines that later
  tests of this process start must not inherit it."""
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


def _sweep(workdir, presets="keras,pytorch", **more):
  drop = ("task.length", "task.eval_size") if "task.name" in more else ()
  base = {k: v for k, v in TINY.items() if k not in drop}
  if more.get("task.name") == "copy":
    base["task.eval_size"] = TINY["task.eval_size"]
  config = lstm_init.config(None, **{**base, **more})
  return lstm_init.sweep(config, sweep=[f"model.init.preset={presets}"], workdir=str(workdir),
                         progress="lines", log=lambda s: None)


@pytest.fixture(scope="module")
def adding(tmp_path_factory):
  """The adding problem's keras and pytorch presets at tiny sizes, read by two tests."""
  return _sweep(tmp_path_factory.mktemp("api") / "adding")


def test_a_sweep_from_python_returns_typed_frames_and_reads_back_the_same(adding):
  res = adding
  runs = res.runs
  assert len(runs) == 6 and list(runs["condition"].cat.categories) == ["preset=keras",
                                                                       "preset=pytorch"]
  for col, kind in (("seed", "int64"), ("init_seed", "int64"), ("data_seed", "int64"),
                    ("noise_seed", "int64"), ("final_eval_loss", "float64"),
                    ("diverged", "bool"), ("diverged_step", "int64"),
                    ("steps_to_target", "float64")):
    assert str(runs[col].dtype) == kind, col
  assert list(runs["model.init.preset"]) == ["keras"] * 3 + ["pytorch"] * 3
  rows = {(r["condition"], r["seed"]): r["final_eval_loss"] for r in res.rows}
  assert all(rows[(c, s)] == v for c, s, v in zip(runs["condition"], runs["seed"],
                                                   runs["final_eval_loss"]))
  curves = res.curves
  assert list(curves.columns) == ["condition", "seed", "step", "split", "value"]
  val = curves[(curves.split == "val") & (curves.condition == "preset=pytorch")]
  arrays = res.curve_arrays
  np.testing.assert_array_equal(val["value"].to_numpy().reshape(3, -1),
                                arrays["eval_loss"][1, :3, :5])
  assert sorted(set(val["step"])) == [0, 2, 4, 6, 8]
  summary = res.summary
  assert list(summary["condition"]) == ["preset=keras", "preset=pytorch"]
  keras = runs[runs.condition == "preset=keras"]["final_eval_loss"]
  assert summary["median"][0] == pytest.approx(float(np.median(keras)), rel=1e-12)
  again = lstm_init.load_results(res.workdir)
  pd.testing.assert_frame_equal(again.runs, runs)
  pd.testing.assert_frame_equal(again.curves, curves)
  pd.testing.assert_frame_equal(again.summary, summary)


@pytest.mark.parametrize("overrides,message", [
    ({"modle.hidden_size": 3}, "unknown config field 'modle.hidden_size'; valid fields under "
                               "the config:"),
    ({"model.hidden_size": "abc"}, "bad value 'abc' for model.hidden_size; expected int"),
    ({"train.learning_rate": -1.0}, "bad value -1.0 for train.learning_rate; valid: > 0"),
    ({"model.dropout": 0.2}, "it is used only with model.num_layers > 1"),
])
def test_bad_values_raise_the_command_lines_one_line_errors(tmp_path, overrides, message):
  with pytest.raises(ConfigError) as e:
    config = lstm_init.config(None, **{**TINY, **overrides})
    lstm_init.sweep(config, workdir=str(tmp_path / "w"), progress="lines", log=lambda s: None)
  assert message in str(e.value) and "\n" not in str(e.value)
  assert not os.path.exists(tmp_path / "w")
  with pytest.raises(ConfigError, match="progress='tqdm'; valid choices: auto, bar, lines"):
    lstm_init.sweep(lstm_init.config(None, **TINY), progress="tqdm")


def test_the_progress_bar_counts_seed_steps(tmp_path, capsys):
  config = lstm_init.config(None, **TINY)
  lines = []
  lstm_init.sweep(config, sweep=["model.init.preset=keras"], workdir=str(tmp_path / "w"),
                  progress="bar", log=lines.append)
  err = capsys.readouterr().err
  assert "100%" in err and "24.0/24.0" in err and "seed-step/s" in err, err[-500:]
  assert not any("seed-steps/s" in l for l in lines)  # the bar replaces the lines


SCRIPT = """
import sys, lstm_init
config = lstm_init.config(None, **{tiny!r})
try:
  res = lstm_init.sweep(config, sweep={axis!r}, progress="lines",
                        log=lambda s: print(s, flush=True))
except (lstm_init.ConfigError, lstm_init.Interrupted) as e:
  print("stopped:", e, flush=True)
  sys.exit(3)
"""


def test_an_interrupted_call_resumes_when_made_again(tmp_path, monkeypatch):
  """A real SIGINT stops the call in a process of its own; the same call made
  again (in this process, from the same folder) resumes in the same folder under
  runs/, with the bits of the same call never stopped (made from another folder)."""
  tiny = {**TINY, "train.steps": 300, "train.log_every": 10, "train.eval_every": 10,
          "checkpoint_every_s": 0.0, "num_seeds": 4}
  axis = ["model.init.preset=keras,pytorch"]
  monkeypatch.setenv("LSTM_INIT_CPU_DEVICES", "1")
  os.makedirs(tmp_path / "a")
  proc = forked.start(["-c", SCRIPT.format(tiny=tiny, axis=axis)], cwd=tmp_path / "a")
  seen = []
  deadline = time.time() + 240
  for line in proc.stdout_lines():
    seen.append(line)
    if "step 20/300" in line:
      proc.send_signal(signal.SIGINT)
      break
    assert time.time() < deadline, "".join(seen)
  out, err = proc.communicate(timeout=240)
  assert proc.returncode == 3, out + err
  assert "stopped: interrupted: checkpoint written" in out
  config = lstm_init.config(None, **tiny)
  call = lambda log: lstm_init.sweep(config, sweep=axis, progress="lines", log=log)
  monkeypatch.chdir(tmp_path / "a")
  lines = []
  again = call(lines.append)
  assert any(l.startswith("resuming from") for l in lines), lines[:5]
  os.makedirs(tmp_path / "b")
  monkeypatch.chdir(tmp_path / "b")
  fresh = call(lambda s: None)
  # the same call: the same folder under runs/, and the same bits as a run never stopped
  assert again.workdir == fresh.workdir and again.workdir.startswith("runs" + os.sep)
  assert os.path.isdir(tmp_path / "a" / again.workdir)
  assert bits(again.rows) == bits(fresh.rows)


def _iqm_rliable(matrix, reps):
  from rliable import library as rly
  from rliable import metrics as rl_metrics
  return rly.get_interval_estimates({"x": matrix}, lambda x: np.array(
      [rl_metrics.aggregate_iqm(x)]), reps=reps)


def test_the_aggregate_iqm_interval_profiles_and_p_better_match_rliable():
  from rliable import library as rly
  from rliable import metrics as rl_metrics
  rng = np.random.default_rng(0)
  a = rng.normal([0.8, 0.5, 0.6], 0.1, size=(20, 3))   # [seeds, tasks]
  b = rng.normal([0.6, 0.55, 0.4], 0.15, size=(20, 3))
  point, interval = _iqm_rliable(a, 5000)
  from lstm_init.core import stats
  assert stats.iqm(a) == pytest.approx(point["x"][0], rel=1e-12)
  low, high = aggregate_lib.stratified_iqm_ci(a, n_resamples=5000)
  width = interval["x"][1, 0] - interval["x"][0, 0]
  # Monte Carlo error of the 2.5% / 97.5% quantiles of 5000 resamples: ~4% of the width.
  assert abs(low - interval["x"][0, 0]) < 0.1 * width
  assert abs(high - interval["x"][1, 0]) < 0.1 * width
  taus = np.linspace(0, 1, 21)
  profile, _ = rly.create_performance_profile({"a": a}, taus, reps=5)
  np.testing.assert_allclose(stats.performance_profile(a, taus), profile["a"], atol=1e-12)
  mine = np.mean([stats.probability_of_improvement(-a[:, t], -b[:, t]) for t in range(3)])
  assert mine == pytest.approx(rl_metrics.probability_of_improvement(a, b), abs=1e-12)


def test_workdirs_of_three_tasks_are_aggregated_or_refused_in_one_line(adding, tmp_path):
  dirs = [adding.workdir]
  for name, extra in (("copy", {"task.name": "copy", "task.delay": 4}),
                      ("recall", {"task.name": "delayed_recall", "task.delay": 3, "task.window": 8})):
    dirs.append(str(tmp_path / name))
    _sweep(dirs[-1], presets="keras,pytorch", **extra)
  agg = lstm_init.aggregate(dirs, n_resamples=200)
  assert agg.tasks == ["adding", "copy", "recall"]
  assert agg.normalization[0].startswith("baseline (")
  for c in agg.conditions:
    assert agg.scores[c].shape == (3, 3)
  runs = lstm_init.load_results(dirs[0])
  keras = runs.runs[runs.runs.condition == "preset=keras"]["final_eval_loss"].to_numpy()
  baseline = runs.condition_summary("preset=keras").baseline
  np.testing.assert_allclose(agg.scores["preset=keras"][:, 0], 1 - keras / baseline)
  assert sorted(agg.ranks[:, 0].tolist())[0] == 1 and agg.ranks.shape == (2, 3)
  written = aggregate_lib.write_aggregate(agg, str(tmp_path))
  assert "mean rank" in agg.table() and os.path.exists(written)
  # refused: no shared condition; losses mixed with returns
  other = str(tmp_path / "other")
  _sweep(other, presets="chrono")
  with pytest.raises(ConfigError, match="share no condition"):
    lstm_init.aggregate([dirs[0], other])
  mixed = str(tmp_path / "mixed")
  shutil.copytree(dirs[1], mixed)
  summary = json.load(open(os.path.join(mixed, "summary.json")))
  summary["lower_is_better"] = False
  json.dump(summary, open(os.path.join(mixed, "summary.json"), "w"))
  with pytest.raises(ConfigError, match="mix higher-is-better scores"):
    lstm_init.aggregate([dirs[0], mixed])
