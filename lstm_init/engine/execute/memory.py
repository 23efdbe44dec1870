"""How many runs train at once: chunks that fit in memory, cut smaller after an OOM.

The sizes come from the compiled programs' own memory analysis
(`ConditionGroupPrograms.run_bytes`) against the budget
(`runtime.memory.memory_budget_bytes`). A chunk holds whole seed groups on
every device where it can. The records of every run (each step's loss, each
validation, a results row) stay in host memory until the end: a sweep whose
records cannot fit is refused before training (`check_record_size`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lstm_init.engine.execute.programs import ConditionGroupPrograms
from lstm_init.engine.execute.runs import boundaries, group_runs
from lstm_init.engine.runtime import memory as host
from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.engine.spec.schedule import Schedule
from lstm_init.errors import ConfigError, OutOfMemory

RECORD_SHARE = 0.8  # of the host's available memory the records may take
ROW_BYTES = 2048    # a results row (a dict of ~20 numbers), its text and its summary share


def record_bytes(schedule: Schedule) -> int:
  """Host bytes one run's records take through the sweep: every step's loss
  (float32 while in training, float64 filed, float32 in curves.npz), three
  curves at each validation (in the records and again in the curves), a row.

  Args:
    schedule: the run's condition's schedule.

  Returns:
    The estimate in bytes.
  """
  return 16 * schedule.total + 48 * len(schedule.evals) + ROW_BYTES




def check_record_size(plan: SweepPlan) -> None:
  """Refuses, before training, a sweep whose records cannot fit in host memory:
  every run keeps each step's loss, its validations and a results row."""
  need = sum(len(lay["seed"]) * record_bytes(c.schedule)
             for lay, c in zip(plan.layouts, plan.conditions))
  have = host.host_memory_bytes()
  if need > RECORD_SHARE * have:
    runs = sum(len(lay["seed"]) for lay in plan.layouts)
    raise ConfigError(
        f"{runs:,} runs need about {need / 2**30:.1f} GiB of host memory for their records "
        f"(each step's loss, each validation, a results row), more than {RECORD_SHARE:.0%} "
        f"of the {have / 2**30:.1f} GiB available; valid choices: fewer seeds, conditions "
        "or train.steps, or a machine with more memory")


def plan_bounds(plan: SweepPlan, g: int, programs: ConditionGroupPrograms, data, mesh,
                log: Callable[[str], None]) -> np.ndarray:
  """Chunk boundaries in condition group g's run list, from the compiled
  programs' memory.

  Args:
    plan: the sweep.
    g: the condition group.
    programs: its compiled programs (`programs.seed_group` runs per seed group).
    data: the group's experiment data, placed on the devices.
    mesh: the devices.
    log: where the memory line goes.

  Returns:
    [chunks + 1] boundaries.
  """
  runs = group_runs(plan, g)
  settings, d = plan.settings, mesh.size
  schedule = plan.conditions[plan.groups[g][0]].schedule  # its first piece is analysed
  whole = d * max(1, programs.seed_group)  # a group is padded to its size anyway

  def rounded(size: int) -> int:
    if settings.max_chunk_seeds > 0:
      size = min(size, settings.max_chunk_seeds)
    if size >= len(runs):
      return len(runs)
    unit = whole if size >= whole else d
    return size // unit * unit if size >= unit else size

  size = rounded(len(runs))
  shapes = programs.abstract_group(runs[0])
  held, temp = programs.run_bytes(shapes, data, schedule.pieces[0].segments)
  budget = host.memory_budget_bytes(settings.memory_budget_gb, mesh)
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
