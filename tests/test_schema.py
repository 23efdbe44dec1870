"""The config schema (engine.spec.schema): composed from the fields its readers
declare, checked against them, and the source of the docs' config reference."""

import jax
import jax.numpy as jnp
import pytest

from lstm_init import ConfigError, dotted, fields
from lstm_init.engine.spec import schema
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.training import tasks
from lstm_init.training.tasks.base import EVAL_SEED, Batch, Task, TaskDef, r2_against
from tests.helpers import tiny_config


def test_every_field_of_the_base_config_is_declared_once_with_its_default():
  config = schema.base_config()
  flat = dotted.flatten(config.to_dict())
  rows = {r.path: r for r in schema.reference() if not r.path.startswith("rl.")}
  assert set(flat) == set(rows), set(flat) ^ set(rows)
  for path, value in flat.items():
    default = rows[path].default
    assert value == (tuple(default) if isinstance(default, list) else default), path
    assert rows[path].comment, f"{path} has no comment"


def test_a_range_refuses_nan_inf_and_values_outside_it_in_one_line():
  for path, value, valid in [("train.learning_rate", -1.0, "> 0"),
                             ("train.learning_rate", float("nan"), "> 0"),
                             ("task.eval_size", 0, ">= 1"),
                             ("model.init.t_max", 1.5, "> 2")]:
    c = schema.base_config()
    dotted.assign(c, path, value)
    with pytest.raises(ConfigError, match=rf"bad value .* for {path}; valid: {valid}"):
      schema.check_config(c)


@pytest.mark.parametrize("path,config_change,reason", [
    ("train.momentum", {}, "it is used only with train.optimizer=sgd"),
    ("task.delay", {}, "task 'adding' does not use it (used by: copy, delayed_recall)"),
    ("task.column", {"task.name": "forecast"}, "it is used only with task.series=file"),
    ("model.residual_scale", {"model.num_layers": 2},
     "it is used only with model.residual=True with model.num_layers > 1"),
])
def test_unused_reason_follows_the_declarations(path, config_change, reason):
  c = schema.base_config()
  for p, v in config_change.items():
    dotted.assign(c, p, v)
  assert schema.unused_reason(c, path) == reason
  assert schema.unused_reason(c, "train.learning_rate") is None


def _constant_sample(key, n, length, level):
  xs = jax.random.normal(key, (n, length, 1))
  ys = jnp.full((n, length, 1), level).at[:, :-1].set(0.0)
  mask = jnp.zeros((n, length)).at[:, -1].set(1.0)
  return Batch(xs, ys, mask, jnp.ones((n,), bool), mask)


def make_level(cfg, eval_key):
  """A task of one file: predict a constant level at the last step."""
  length, level = int(cfg.steps), float(cfg.level)
  data = {s: jax.tree.map(lambda a: a[None], _constant_sample(jax.random.fold_in(eval_key, i),
                                                              16, length, level))
          for i, s in enumerate(("val", "test"))}
  return Task(name="level", input_size=1, output_size=1, loss="mse", metric="r2",
              baseline=level ** 2, baseline_note="predicting 0", window=length, stride=length,
              windows_per_sequence=1, data=data,
              train_batch=lambda d, key, step, b: _constant_sample(
                  jax.random.fold_in(key, step), b, length, level),
              eval_set=lambda d, split: d[split], description=f"constant level {level}",
              metric_of=r2_against(level ** 2))


LEVEL = TaskDef("level", make_level, (
    fields.Field("steps", 6, "level: sequence length", fields.at_least(2)),
    fields.Field("level", 0.5, "level: the target"), EVAL_SEED))


def test_a_task_added_as_one_declaration_is_in_the_schema_sweeps_and_refuses_foreign_fields(
    monkeypatch):
  monkeypatch.setitem(tasks.TASKS, "level", LEVEL)
  config = schema.base_config()
  assert config.task.level == 0.5 and config.task.steps == 6
  rows = {r.path: r for r in schema.reference()}
  assert rows["task.level"].used == "task level" and rows["task.steps"].valid == ">= 2"
  cfg = tiny_config()
  with cfg.unlocked():
    cfg.task = config.task
  cfg.task.name = "level"
  plan = plan_sweep(cfg, ["task.level=0.5,2.0"])
  assert [c.name for c in plan.conditions] == ["level=0.5", "level=2.0"]
  assert plan.experiments[1].baseline == 4.0
  with pytest.raises(ConfigError, match=r"--config.task.length=9 would have no effect: task "
                                        r"'level' does not use it \(used by: adding\)"):
    plan_sweep(cfg, [], {"task.length": 9})
  cfg.task.steps = 1
  with pytest.raises(ConfigError, match=r"bad value 1 for task.steps; valid: >= 2"):
    plan_sweep(cfg, [])


def test_two_different_declarations_of_one_field_are_refused():
  a = fields.Field("x", 1, "one")
  with pytest.raises(ValueError, match="declared twice"):
    fields.merge((a,), (fields.Field("x", 2, "two"),))
  assert fields.merge((a,), (a,)) == (a,)
