"""When a run validates and where the host loop takes over: a condition's schedule.

  schedule = make_schedule(total=400, every=10, log_every=100)
  schedule.evals    # (0, 10, 20, ..., 400): the validation steps
  schedule.pieces   # Piece(start, end, segments, first_eval), one per host-loop turn

A piece is the steps one compiled program trains between two host syncs
(`train.log_every`); a segment, the steps between two validations
(`train.eval_every`). Full pieces share their segments, so they share a
program.
"""

from __future__ import annotations

import dataclasses

import numpy as np

EVAL_POINTS = 40  # validations per run when train.eval_every = 0


@dataclasses.dataclass(frozen=True)
class Piece:
  """Steps `[start, end)` trained by one compiled program, validating after each
  segment (`segments = ((length, count), ...)`); `first_eval` indexes the
  first of its validations in `Schedule.evals`."""

  start: int
  end: int
  segments: tuple[tuple[int, int], ...]
  first_eval: int


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When a run validates (`evals`, step 0 first) and where the host loop
  takes over (`pieces`: log, progress, metrics.jsonl, checkpoint, SIGINT)."""

  evals: tuple[int, ...]
  pieces: tuple[Piece, ...]

  @property
  def total(self) -> int:
    """The run's training steps (its last validation's step)."""
    return self.evals[-1]


def make_schedule(total: int, every: int, log_every: int) -> Schedule:
  """Pieces of `log_every` steps (the last may be shorter), each validating
  every `every` steps from its start and at its end.

  Every full piece has the same segments, so it is one compiled program;
  when `every` divides `log_every` the validations are the multiples of
  `every`.

  Args:
    total: training steps.
    every: steps between validations.
    log_every: steps per piece.

  Returns:
    The `Schedule`.
  """
  evals, pieces = [0], []
  for start in range(0, total, log_every):
    end = min(start + log_every, total)
    points = sorted(set(range(start + every, end, every)) | {end})
    lengths = np.diff([start] + points).tolist()
    segments: list[list[int]] = []
    for length in lengths:
      if segments and segments[-1][0] == length:
        segments[-1][1] += 1
      else:
        segments.append([length, 1])
    pieces.append(Piece(start, end, tuple(map(tuple, segments)), len(evals)))
    evals += points
  return Schedule(tuple(evals), tuple(pieces))


def eval_every(steps: int, every: int, log_every: int) -> int:
  """Steps between validations: `every` (`train.eval_every`), or when it is 0
  the largest divisor of `log_every` not above steps // 40 (so at least 40
  points, and every piece of the host loop has the same shape).

  Args:
    steps, every, log_every: `train.steps`, `train.eval_every`, `train.log_every`.

  Returns:
    The number of steps, >= 1.
  """
  if every > 0:
    return every
  most = max(1, steps // EVAL_POINTS)
  return max(d for d in range(1, min(most, log_every) + 1) if log_every % d == 0)


def schedule_of(config) -> Schedule:
  """The schedule of a condition's config (`train.steps`, `eval_every`, `log_every`).

  Args:
    config: the condition's config.

  Returns:
    The `Schedule`.
  """
  t = config.train
  steps, log_every = int(t.steps), int(t.log_every)
  return make_schedule(steps, eval_every(steps, int(t.eval_every), log_every), log_every)
