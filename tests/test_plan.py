"""The plan (engine.spec.plan, axes, seeds, schedule): conditions, condition groups,
distinct conditions, identity; nothing trained or written."""

import dataclasses

import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.engine import sweep
from lstm_init.engine.spec import axes, plan as plan_lib, schedule, seeds
from tests.helpers import tiny_config


def test_axes_multiply_into_named_conditions_typed_as_their_fields():
  cfg = tiny_config()
  plan = plan_lib.plan_sweep(cfg, ["model.init.preset=keras,pytorch",
                                   "model.hidden_size=8,16"])
  assert [c.name for c in plan.conditions] == [
      "preset=keras,hidden_size=8", "preset=keras,hidden_size=16",
      "preset=pytorch,hidden_size=8", "preset=pytorch,hidden_size=16"]
  assert plan.conditions[1].config.model.hidden_size == 16
  # The preset changes only initial values: one program per width.
  assert plan.groups == [[0, 2], [1, 3]]
  assert axes.split_values("variance_scaling(scale=2,mode=fan_out),glorot_uniform") == [
      "variance_scaling(scale=2,mode=fan_out)", "glorot_uniform"]


@pytest.mark.parametrize("sweep_arg,message", [
    ("model.init.preset=keras", r"sweep='model.init.preset=keras' is one string; valid: a list"),
    (["model.hidden_size=8,x"], r"bad value 'x' for model.hidden_size in --sweep; expected int"),
    (["model.init.preset=keras,,pytorch"], r"value 2 of 3 is empty"),
    (["model.init.preset=keras,keras"], r"gives the value 'keras' twice"),
    ([3], r"sweep axis 3 is a int; valid: strings"),
])
def test_bad_axes_are_one_line(sweep_arg, message):
  with pytest.raises(ConfigError, match=message):
    plan_lib.plan_sweep(tiny_config(), sweep_arg)


def test_combinations_that_differ_only_in_values_with_no_effect_are_one_condition():
  plan = plan_lib.plan_sweep(tiny_config(), ["model.initial_state.strategy=zeros,noisy",
                                             "model.initial_state.noise_std=0.1,0.5"])
  assert [c.name for c in plan.conditions] == [
      "strategy=zeros", "strategy=noisy,noise_std=0.1", "strategy=noisy,noise_std=0.5"]
  assert plan.collapsed == {"strategy=zeros,noise_std=0.1": "strategy=zeros",
                            "strategy=zeros,noise_std=0.5": "strategy=zeros"}
  assert plan.conditions[0].overrides == {"model.initial_state.strategy": "zeros"}
  line = sweep.collapsed_line(plan)
  assert "strategy=zeros,noise_std=0.1, strategy=zeros,noise_std=0.5 -> strategy=zeros" in line


def test_the_identity_changes_with_what_runs_not_with_where():
  a = plan_lib.plan_sweep(tiny_config(), [])
  cfg = tiny_config()
  cfg.devices, cfg.checkpoint_every_s = 1, 5.0  # resumable: where and how often
  assert plan_lib.plan_sweep(cfg, []).identity == a.identity
  cfg.train.learning_rate = 0.5
  assert plan_lib.plan_sweep(cfg, []).identity["config"] != a.identity["config"]
  assert sweep.default_workdir(plan_lib.plan_sweep(cfg, [])) != sweep.default_workdir(a)
  assert sweep.default_workdir(plan_lib.plan_sweep(tiny_config(), [])) == sweep.default_workdir(a)


def test_select_keeps_the_asked_runs_and_renumbers_the_groups():
  plan = plan_lib.plan_sweep(tiny_config(), ["model.hidden_size=8,16"])
  part = plan.select(lambda name, s: (s == 2) if name == "hidden_size=16" else s < 0)
  assert [c.name for c in part.conditions] == ["hidden_size=16"]
  assert part.groups == [[0]] and part.layouts[0]["seed"].tolist() == [2]
  assert part.group_keys == plan.group_keys[1:]


def test_settings_and_seeds_are_read_once_into_frozen_specs():
  cfg = tiny_config()
  cfg.design, cfg.num_init_seeds, cfg.num_data_seeds = "crossed", 2, 3
  plan = plan_lib.plan_sweep(cfg, [])
  spec = plan.conditions[0].seeds
  assert isinstance(spec, seeds.SeedSpec) and spec.design == "crossed"
  assert plan.layouts[0]["init_seed"].tolist() == [0, 0, 0, 1, 1, 1]
  with pytest.raises(dataclasses.FrozenInstanceError):
    spec.seed = 3  # frozen
  assert plan.settings.seed_group == 1 and plan.settings.writers == ("jsonl",)


def test_a_schedule_validates_every_eval_every_steps_and_pieces_share_segments():
  s = schedule.make_schedule(total=10, every=2, log_every=4)
  assert s.evals == (0, 2, 4, 6, 8, 10)
  assert [(p.start, p.end, p.segments) for p in s.pieces] == [
      (0, 4, ((2, 2),)), (4, 8, ((2, 2),)), (8, 10, ((2, 1),))]
  assert schedule.eval_every(400, 0, 100) == 10  # the largest divisor of 100 <= 400 // 40
  assert np.all(np.diff(s.evals) > 0)


def test_two_spellings_of_one_initializer_are_one_condition():
  plan = plan_lib.plan_sweep(tiny_config(), [
      "model.init.input_kernel=variance_scaling:2,VarianceScaling(scale=2.0),glorot_uniform"])
  assert [c.name for c in plan.conditions] == ["input_kernel=variance_scaling:2",
                                               "input_kernel=glorot_uniform"]
  assert plan.collapsed == {"input_kernel=VarianceScaling(scale=2.0)":
                            "input_kernel=variance_scaling:2"}
