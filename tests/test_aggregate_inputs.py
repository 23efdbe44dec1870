"""Aggregation's inputs: a workdir given twice is refused, labels stay unique,
and the pairwise table compares conditions within each task only."""

import csv
import json
import os
import shutil

import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.report import aggregate as aggregate_lib
from lstm_init.report.results import INT_COLUMNS, RESULT_COLUMNS

RNG = np.random.default_rng(0)


def workdir(path, losses, task="adding", baseline=1.0, task_of=None):
  """A finished sweep's files, as the engine writes them, for hand-chosen losses.

  Args:
    path: the folder.
    losses: {condition: [seeds] final validation losses}.
    task: the config's task.name.
    baseline: every condition's no-learning baseline.
    task_of: {condition: task.name} for conditions that override the task.
  """
  os.makedirs(path)
  task_of = task_of or {}
  with open(os.path.join(path, "results.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, RESULT_COLUMNS)
    w.writeheader()
    for c, values in losses.items():
      for seed, v in enumerate(values):
        row = {k: "nan" for k in RESULT_COLUMNS}
        row.update({k: seed for k in INT_COLUMNS})
        row.update(condition=c, final_eval_loss=repr(float(v)), diverged="False",
                   diverged_step=-1)
        w.writerow(row)
  summary = {"lower_is_better": True, "metric": "r2", "baseline": baseline,
             "conditions": {c: {"n": len(v), "n_diverged": 0, "baseline": baseline}
                            for c, v in losses.items()}}
  conditions = [{"name": c, "overrides": ({"task.name": task_of[c]} if c in task_of else
                                          {"model.init.preset": c})} for c in losses]
  record = {"config": {"task": {"name": task}}, "conditions": conditions}
  json.dump(summary, open(os.path.join(path, "summary.json"), "w"))
  json.dump(record, open(os.path.join(path, "config.json"), "w"))
  np.savez(os.path.join(path, "curves.npz"), conditions=np.array(list(losses)))
  return str(path)


def losses(a=0.3, b=0.5, n=6):
  return {"keras": a + 0.05 * RNG.random(n), "pytorch": b + 0.05 * RNG.random(n)}


def one_line(call, *needles):
  with pytest.raises(ConfigError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message, message
  for needle in needles:
    assert needle in message, (needle, message)


def test_a_workdir_given_twice_is_refused_by_any_spelling(tmp_path):
  a = workdir(tmp_path / "a", losses())
  b = workdir(tmp_path / "b", losses())
  aggregate_lib.aggregate([a, b], n_resamples=50)  # two tasks: accepted
  for again in (a, a + "/", str(tmp_path / "b" / ".." / "a")):
    one_line(lambda: aggregate_lib.aggregate([a, b, again], n_resamples=50),
             f"workdir {again!r} is {a!r} given again (the same folder)",
             "valid: each task's workdir once")
  os.symlink(a, tmp_path / "link")
  one_line(lambda: aggregate_lib.aggregate([a, str(tmp_path / "link")]), "the same folder")
  shutil.copytree(a, tmp_path / "copy")
  one_line(lambda: aggregate_lib.aggregate([a, b, str(tmp_path / "copy")]),
           f"workdir {str(tmp_path / 'copy')!r} holds the same sweep as {a!r}",
           "identical config.json and results.csv: a copy")
  # a copy whose results differ is another sweep
  path = tmp_path / "copy" / "results.csv"
  rows = list(csv.DictReader(open(path)))
  rows[0]["final_eval_loss"] = "0.25"
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, RESULT_COLUMNS)
    w.writeheader()
    w.writerows(rows)
  assert len(aggregate_lib.aggregate([a, str(tmp_path / "copy")], n_resamples=50).tasks) == 2


def test_workdirs_of_the_same_folder_name_get_unique_labels(tmp_path):
  x1 = workdir(tmp_path / "x1" / "run", losses(), task="adding")
  x2 = workdir(tmp_path / "x2" / "run", losses(0.6, 0.2), task="copy")
  other = workdir(tmp_path / "other", losses())
  agg = aggregate_lib.aggregate([x1, x2, other], n_resamples=50)
  assert agg.tasks == ["x1/run", "x2/run", "other"]
  head = agg.table().splitlines()[0].split()
  assert head[-3:] == ["x1/run", "x2/run", "other"]
  text = open(aggregate_lib.write_aggregate(agg, str(tmp_path))).read()
  assert "| x1/run |" in text and "| x2/run |" in text
  assert aggregate_lib.labels(["/p/a/run", "/p/b/run", "/p/c/other"]) == ["a/run", "b/run",
                                                                          "other"]
  assert aggregate_lib.labels(["/a/run", "/b/a/run"]) == ["/a/run", "b/a/run"]
  assert aggregate_lib.labels(["/p/q/a/run", "/p/r/a/run"]) == ["q/a/run", "r/a/run"]


def test_p_better_compares_conditions_within_each_task_only(tmp_path):
  """Task 1: keras beats pytorch on every seed; task 2: the reverse, on a scale
  where every loss of task 2 is worse than every loss of task 1. Within tasks,
  P(keras better) = (1 + 0) / 2; a comparison across tasks would give more."""
  from rliable import metrics as rl_metrics
  t1 = workdir(tmp_path / "one", {"keras": 0.1 + 0.01 * RNG.random(8),
                                  "pytorch": 0.2 + 0.01 * RNG.random(8)}, baseline=1.0)
  t2 = workdir(tmp_path / "two", {"keras": 9.0 + RNG.random(8),
                                  "pytorch": 5.0 + RNG.random(8)}, baseline=20.0)
  agg = aggregate_lib.aggregate([t1, t2], n_resamples=50)
  assert agg.p_better["keras", "pytorch"] == pytest.approx(0.5, abs=1e-12)
  assert agg.p_better["pytorch", "keras"] == pytest.approx(0.5, abs=1e-12)
  # rliable's probability of improvement on the same [runs, tasks] normalized scores
  want = rl_metrics.probability_of_improvement(agg.scores["keras"], agg.scores["pytorch"])
  assert agg.p_better["keras", "pytorch"] == pytest.approx(want, abs=1e-12)
  np.testing.assert_allclose(agg.scores["keras"][:, 1],
                             1 - aggregate_lib.load_results(t2).column(
                                 "keras", "final_eval_loss") / 20.0)
  assert agg.ranks.tolist() == [[1, 2], [2, 1]]


def test_a_workdir_whose_conditions_are_of_several_tasks_is_refused(tmp_path):
  ok = workdir(tmp_path / "ok", {"adding": [0.1, 0.2], "copy": [0.3, 0.4]})
  mixed = workdir(tmp_path / "mixed", {"adding": [0.1, 0.2], "copy": [0.3, 0.4]},
                  task_of={"adding": "adding", "copy": "copy"})
  one_line(lambda: aggregate_lib.aggregate([ok, mixed], n_resamples=50),
           "workdir 'mixed' holds conditions of several tasks (adding, copy)",
           "valid: one task per workdir")
