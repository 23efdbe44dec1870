"""How many runs train at once: chunks that fit in memory, cut smaller after an OOM.

The sizes come from the compiled programs' own memory analysis
(`GroupPrograms.run_bytes`) against the budget (`distributed.memory_budget_bytes`).
A chunk holds whole groups of runs on every device where it can.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lstm_init.engine import distributed
from lstm_init.engine.plan import SweepPlan
from lstm_init.engine.programs import GroupPrograms, Schedule
from lstm_init.engine.runs import RECORD_SHARE, boundaries, group_runs, record_bytes
from lstm_init.errors import ConfigError


def check_record_size(plan: SweepPlan, schedules: list[Schedule]) -> None:
  """Refuses, before training, a sweep whose records cannot fit in host memory:
  every run keeps each step's loss, its validations and a results row."""
  need = sum(len(lay["seed"]) * record_bytes(s) for lay, s in zip(plan.layouts, schedules))
  have = distributed.host_memory_bytes()
  if need > RECORD_SHARE * have:
    runs = sum(len(lay["seed"]) for lay in plan.layouts)
    raise ConfigError(
        f"{runs:,} runs need about {need / 2**30:.1f} GiB of host memory for their records "
        f"(each step's loss, each validation, a results row), more than {RECORD_SHARE:.0%} "
        f"of the {have / 2**30:.1f} GiB available; valid choices: fewer seeds, conditions "
        "or train.steps, or a machine with more memory")


def plan_bounds(plan: SweepPlan, g: int, programs: GroupPrograms, data, mesh,
                schedule: Schedule, log: Callable[[str], None]) -> np.ndarray:
  """Chunk boundaries in group g's run list, from the compiled programs' memory.

  Args:
    plan: the sweep.
    g: the group of conditions.
    programs: the group's compiled programs (`programs.seed_group` runs per vmapped group).
    data: the group's experiment data, placed on the devices.
    mesh: the devices.
    schedule: the group's pieces (the first piece's program is analysed).
    log: where the memory line goes.

  Returns:
    [chunks + 1] boundaries.
  """
  runs = group_runs(plan, g)
  cfg, d = plan.config, mesh.size
  whole = d * max(1, programs.seed_group)  # a group is padded to its size anyway

  def rounded(size: int) -> int:
    if int(cfg.max_chunk_seeds) > 0:
      size = min(size, int(cfg.max_chunk_seeds))
    if size >= len(runs):
      return len(runs)
    unit = whole if size >= whole else d
    return size // unit * unit if size >= unit else size

  size = rounded(len(runs))
  shapes = programs.abstract_group(runs[0])
  held, temp = programs.run_bytes(shapes, data, schedule.pieces[0].segments)
  budget = distributed.memory_budget_bytes(cfg.memory_budget_gb, mesh)
  if size * held + d * temp > budget:  # each device runs its groups in turn
    if whole * held + d * temp > budget:
      raise ConfigError(
          f"seed_group={programs.seed_group} needs about {(whole * held + d * temp) / 2**30:.2f} "
          f"GiB for one group of runs per device, over the budget of {budget / 2**30:.2f} "
          f"GiB; valid choices: a smaller --config.seed_group (a seed's result depends on "
          f"it), or a larger --config.memory_budget_gb")
    size = min(size, rounded(max(1, int((budget - d * temp) // held))))
  bounds = boundaries(len(runs), size)
  log(f"memory: {held / 2**20:.2f} MiB held per run and {temp / 2**20:.1f} MiB of "
      f"temporaries per device for a group of {programs.seed_group} run(s) (XLA's analysis "
      f"of the compiled programs); budget {budget / 2**30:.2f} GiB over {d} device(s) "
      f"-> {size} runs per chunk, {len(bounds) - 1} chunk(s)")
  return np.array(bounds)


def split_after_oom(bounds: np.ndarray, k: int, unit: int,
                    log: Callable[[str], None]) -> np.ndarray:
  """Chunk k and the rest cut into chunks of half chunk k's size (whole
  multiples of `unit` runs); returns the new boundaries."""
  b = bounds.tolist()
  size = max(unit, (b[k + 1] - b[k]) // 2 // unit * unit)
  log(f"out of memory with {b[k + 1] - b[k]} runs per chunk; retrying with {size}")
  return np.array(b[:k] + boundaries(b[-1], size, b[k]))


def is_oom(e: Exception) -> bool:
  """Whether an exception is XLA running out of device memory."""
  msg = str(e)
  return "RESOURCE_EXHAUSTED" in msg or "Out of memory" in msg or "out of memory" in msg
