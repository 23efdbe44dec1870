"""A condition group's runs, as the host loop sees them: (condition, seed row) pairs.

  runs = group_runs(plan, g)       # made on demand
  bounds = boundaries(len(runs), size)

Nothing here holds a list over all of a sweep's runs: a 10^7-seed sweep plans in
a few bytes per run (its seed layouts) and is refused before training when
its records cannot fit in memory (`memory.record_bytes`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lstm_init.engine.spec.plan import SweepPlan


class ConditionGroupRuns(Sequence):
  """A condition group's runs as (condition, seed row) pairs, in chunk order, made on demand:
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


def group_runs(plan: SweepPlan, g: int) -> ConditionGroupRuns:
  """A group's runs as (condition, seed row) pairs, in chunk order.

  Args:
    plan: the sweep's plan.
    g: the group's index in `plan.groups`.

  Returns:
    A `ConditionGroupRuns` sequence.
  """
  return ConditionGroupRuns(plan, g)


def boundaries(n: int, size: int, start: int = 0) -> list[int]:
  """Cut points of [start, n) into pieces of `size` (the last may be shorter).

  Args:
    n: the end; size: the piece length (at least 1 is used); start: the start.

  Returns:
    [start, start + size, ..., n].
  """
  return list(range(start, n, max(1, size))) + [n]


def split_conditions(plan: SweepPlan, bounds: dict[str, np.ndarray]) -> list[int]:
  """The conditions whose runs train in more than one chunk.

  Args:
    plan: the sweep's plan.
    bounds: per condition group, its chunk boundaries (`SweepState.bounds`).

  Returns:
    Their indices, in order.
  """
  out = []
  for g in range(len(plan.groups)):
    runs, cuts = ConditionGroupRuns(plan, g), bounds[str(g)]
    for k, ci in enumerate(runs.conditions):
      start, end = runs.starts[k], runs.starts[k + 1]
      if any(start < b < end for b in cuts):
        out.append(ci)
  return sorted(out)
