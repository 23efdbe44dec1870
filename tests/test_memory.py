"""Chunks that fit in memory (engine.execute.memory), with a fake program's memory:
whole seed groups per device, the budget, the refusal, and the split after an OOM."""

import types

import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.engine.execute import memory, seed_group
from lstm_init.engine.execute.loop import Loop
from lstm_init.engine.execute.programs import ConditionGroupPrograms
from lstm_init.engine.persist.workdir import Workdir
from lstm_init.engine.runtime import memory as device_memory
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.errors import OutOfMemory
from tests.helpers import tiny_config

MIB = 2 ** 20


def _fake_programs(held, temp, size):
  return types.SimpleNamespace(seed_group=size, abstract_group=lambda run: None,
                               run_bytes=lambda shapes, data, segments: (held, temp))


@pytest.mark.parametrize("budget_mib,devices,size,want", [
    (1000, 1, 1, [0, 12]),              # everything fits
    (10 + 3 * 2, 1, 1, [0, 3, 6, 9, 12]),  # 3 runs of 2 MiB beside 10 MiB of temporaries
    (2 * 10 + 6 * 2, 2, 1, [0, 6, 12]),  # 2 devices: temporaries twice, runs in pairs
    (10 + 9 * 2, 1, 4, [0, 8, 12]),     # whole seed groups of 4
])
def test_chunks_hold_whole_seed_groups_within_the_budget(budget_mib, devices, size, want):
  cfg = tiny_config()
  cfg.num_seeds, cfg.memory_budget_gb = 12, budget_mib / 1024
  plan = plan_sweep(cfg, [])
  mesh = types.SimpleNamespace(size=devices)
  lines = []
  bounds = memory.plan_bounds(plan, 0, _fake_programs(2 * MIB, 10 * MIB, size), None, mesh,
                              lines.append)
  assert bounds.tolist() == want, lines
  assert f"-> {want[1]} runs per chunk" in lines[0]


def test_a_budget_below_one_seed_group_is_refused_before_training():
  cfg = tiny_config()
  cfg.memory_budget_gb = 11 / 1024
  plan = plan_sweep(cfg, [])
  with pytest.raises(ConfigError, match=r"seed_group=4 needs about .* GiB for one group of runs "
                                        r"per device"):
    memory.plan_bounds(plan, 0, _fake_programs(2 * MIB, 10 * MIB, 4), None,
                       types.SimpleNamespace(size=1), lambda s: None)


def test_after_an_oom_the_chunk_and_the_rest_are_cut_in_half():
  lines = []
  assert memory.split_after_oom(np.array([0, 8, 16]), 1, 2, lines.append).tolist() == [
      0, 8, 12, 16]
  assert "retrying with 4" in lines[0]
  assert memory.is_oom(RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating"))
  assert not memory.is_oom(RuntimeError("shape mismatch"))


def test_padding_makes_whole_seed_groups_on_every_device():
  assert seed_group.padded(5, devices=2, size=1) == 6
  assert seed_group.padded(5, devices=2, size=4) == 8
  assert seed_group.pad_runs(["a", "b", "c"], 2, 2) == ["a", "b", "c", "c"]
  assert seed_group.fixed_size(-1, "cpu") == 1 and seed_group.fixed_size(-1, "gpu") == 1024
  assert seed_group.fixed_size(8, "cpu") == 8


def test_an_oom_with_one_seed_group_per_device_is_its_own_one_line_error(tmp_path, monkeypatch):
  cfg = tiny_config()
  cfg.num_seeds = 1
  plan = plan_sweep(cfg, [])

  def oom(*args, **kwargs):
    raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")

  monkeypatch.setattr(ConditionGroupPrograms, "piece", oom)
  with pytest.raises(OutOfMemory, match=r"out of memory with one seed group of seed_group=1 "
                                        r"run\(s\) per device; valid choices"):
    Loop(plan, Workdir(str(tmp_path)), lambda s: None).run()


def test_the_accelerator_rule_picks_the_largest_fitting_power_of_two_the_same_each_time(
    tmp_path, monkeypatch):
  """Forced on the CPU: with seed_group=-1 an accelerator's size is the largest
  power of two whose programs fit the budget by XLA's analysis; twice the same."""
  monkeypatch.setattr(seed_group, "platform", lambda: "gpu")
  monkeypatch.setattr(device_memory, "device_memory", lambda device: int(0.4 * 2 ** 30))  # half: 0.2
  cfg = tiny_config()
  cfg.num_seeds, cfg.seed_group = 2, -1  # 1024 runs need ~300 MiB, 512 ~150
  cfg.train.steps = cfg.train.log_every = cfg.train.eval_every = 2
  plan = plan_sweep(cfg, [])
  sizes, rules = [], []
  for k in range(2):
    loop = Loop(plan, Workdir(str(tmp_path / str(k))), lambda s: None)
    loop.run()
    sizes.append(int(loop.state.seed_groups[0]))
    rules.append(loop.seed_group_rule)
  assert sizes[0] == sizes[1] == 512 and rules[0] == rules[1]
  assert rules[0].endswith("fit 0.20 GiB per device by XLA's memory analysis: 512")
  programs = ConditionGroupPrograms(plan, plan.groups[0], loop.mesh, sizes[0])
  data = plan.experiments[0].data
  segments = plan.conditions[0].schedule.pieces[0].segments
  held, temp = programs.run_bytes(programs.abstract_group((0, 0)), data, segments)
  assert sizes[0] * held + temp <= 0.2 * 1024 * MIB
  bigger = ConditionGroupPrograms(plan, plan.groups[0], loop.mesh, 2 * sizes[0])
  held, temp = bigger.run_bytes(bigger.abstract_group((0, 0)), data, segments)
  assert 2 * sizes[0] * held + temp > 0.2 * 1024 * MIB
