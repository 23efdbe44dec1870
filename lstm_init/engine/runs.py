"""A sweep's runs, as the host loop sees them: which runs, how big, of which plan.

  runs = group_runs(plan, g)       # (condition, seed row) pairs, made on demand
  bounds = boundaries(len(runs), size)
  identity = plan_identity(plan, schedules)   # what a checkpoint must match

Nothing here holds a list over all of a sweep's runs: a 10^7-seed sweep plans in
a few bytes per run (its seed layouts) and is refused before training when
its records cannot fit in memory (`record_bytes`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import numpy as np

from lstm_init.engine.config import RESUMABLE_FIELDS
from lstm_init.engine.plan import SweepPlan, flatten
from lstm_init.engine.programs import Schedule


def plan_identity(plan: SweepPlan, schedules: list[Schedule]) -> dict[str, Any]:
  """What a checkpoint must have been written by to be resumed here: the
  conditions, their seeds and steps, the groups, and a digest of the config.

  Args:
    plan: the sweep's plan.
    schedules: one `Schedule` per condition.

  Returns:
    {"conditions", "seeds", "steps", "groups", "config"}: names, seed counts
    and total steps per condition, the groups' condition indices, and 16 hex
    digits of the SHA-256 of the config without `RESUMABLE_FIELDS`.
  """
  config = {k: v for k, v in flatten(plan.config.to_dict()).items()
            if k not in RESUMABLE_FIELDS}
  return {"conditions": [c.name for c in plan.conditions],
          "seeds": [int(len(lay["seed"])) for lay in plan.layouts],
          "steps": [int(s.total) for s in schedules],
          "groups": [[int(ci) for ci in g] for g in plan.groups],
          "config": hashlib.sha256(json.dumps(config, sort_keys=True, default=str)
                                   .encode()).hexdigest()[:16]}


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


class GroupRuns(Sequence):
  """A group's runs as (condition, seed row) pairs, in chunk order, made on demand:
  a sweep holds the pairs of the chunk it trains, never a list over all its runs."""

  def __init__(self, plan: SweepPlan, g: int):
    self.conditions = list(plan.groups[g])
    self.starts = np.cumsum([0] + [len(plan.layouts[ci]["seed"]) for ci in self.conditions])

  def __len__(self) -> int:
    return int(self.starts[-1])

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self[k] for k in range(*i.indices(len(self)))]
    i = i + len(self) if i < 0 else i
    if not 0 <= i < len(self):
      raise IndexError(i)
    k = int(np.searchsorted(self.starts, i, side="right")) - 1
    return (self.conditions[k], int(i - self.starts[k]))


def group_runs(plan: SweepPlan, g: int) -> GroupRuns:
  """A group's runs as (condition, seed row) pairs, in chunk order.

  Args:
    plan: the sweep's plan.
    g: the group's index in `plan.groups`.

  Returns:
    A `GroupRuns` sequence.
  """
  return GroupRuns(plan, g)


def boundaries(n: int, size: int, start: int = 0) -> list[int]:
  """Cut points of [start, n) into pieces of `size` (the last may be shorter).

  Args:
    n: the end; size: the piece length (at least 1 is used); start: the start.

  Returns:
    [start, start + size, ..., n].
  """
  return list(range(start, n, max(1, size))) + [n]
