"""Small configs that train in seconds."""

import numpy as np

from lstm_init.engine.spec import base_config


def tiny_config(**task):
  c = base_config()
  c.name = "tiny"
  c.num_seeds = 4
  c.task.name = "adding"
  c.task.length = 8
  c.task.eval_size = 64
  c.model.hidden_size = 8
  c.train.steps = 20
  c.train.batch_size = 8
  c.train.eval_every = 10
  c.train.log_every = 10
  c.train.learning_rate = 1e-2
  c.report = False
  c.seed_group = 1  # measuring it (-1) is its own test: tests/test_scaling.py
  for k, v in task.items():
    c.task[k] = v
  return c


def bits(rows):
  """Result rows with every float as its exact text (NaN equals NaN; bits compared)."""
  from lstm_init.records import exact
  return [{k: exact(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def merged(**fields):
  """A `report.merged.Merged` of hand-made conditions: the given fields, the rest
  empty or neutral (summaries may be given as dicts of summary.json keys)."""
  import dataclasses
  from lstm_init.report.merged import Merged
  from lstm_init.report.summary import ConditionSummary
  n = len(fields.get("conditions", []))
  empty = [np.zeros(0)] * n
  base = {"conditions": [], "final": empty, "test": empty, "metric": empty,
          "diverged": [np.zeros(0, bool)] * n, "early": empty, "late": empty,
          "curves": empty, "per_timestep": empty, "steps": empty, "baselines": [np.nan] * n,
          "summaries": [{}] * n, "first_k": 1, "metric_name": "metric", "higher": False,
          "score": "final validation loss", "step_unit": "training step", "baseline": None,
          "baseline_note": "", "task": "", "seed": 0, "curve_rows": [0],
          "layouts": [None] * n}
  base.update(fields)
  base["summaries"] = [s if isinstance(s, ConditionSummary) else
                       ConditionSummary.from_dict({"n": 0, "n_diverged": 0, **s})
                       for s in base["summaries"]]
  assert set(base) == {f.name for f in dataclasses.fields(Merged)}, set(base)
  return Merged(**base)
