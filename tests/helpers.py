"""Small configs that train in seconds."""

from lstm_init.engine.config import base_config


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
