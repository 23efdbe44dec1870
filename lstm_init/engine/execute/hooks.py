"""What the host loop does between pieces, as hooks with a given clock.

In the spirit of CLU's periodic actions: the loop trains a piece, then hands a
`PieceDone` to each hook. `ProgressLines` prints rate and ETA, `MetricsLog`
hands the piece's numbers to a metric writer (`metrics.jsonl`), and `Every`
tells when a periodic action (the checkpoint) is due. Each takes a `clock`
(a function returning seconds, `time.monotonic` by default), so a test can
drive them with its own.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from lstm_init.engine.persist.workdir import writing
from lstm_init.engine.persist.writers import MetricWriter

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class PieceDone:
  """One trained piece of one chunk of runs, as the hooks see it."""

  group: int                 # the condition group (one compiled program)
  chunk: int                 # the chunk of the group's runs
  step: int                  # training steps done after this piece
  total_steps: int           # the chunk's training steps in all
  conditions: Sequence[str]  # [runs] each run's condition
  seed_steps: int            # runs x steps trained in this piece
  label: str                 # "[group 1/1 chunk 1/1 96 runs]"
  train_loss: np.ndarray     # [runs] mean training loss since the previous validation
  eval_loss: np.ndarray      # [runs] the validation loss at `step`
  eval_metric: np.ndarray    # [runs] the task's metric at `step`
  curves: dict[str, Any] = dataclasses.field(default_factory=dict)
  # {"steps": the piece's validation steps (step 0 first in a chunk's first
  # piece), "train_loss", "eval_loss", "eval_metric": [runs, len(steps)]}


class Hook:
  """A hook of the host loop; every method does nothing unless overridden."""

  def on_piece(self, event: PieceDone) -> None:
    """Called after every piece, on every process."""

  def skip(self, seed_steps: int) -> None:
    """Seed-steps finished before a resumption (counted, not timed)."""

  def close(self) -> None:
    """Called once when the loop stops (finished, interrupted or failed)."""


class ProgressLines(Hook):
  """A progress line with rate and ETA after every piece.

  Args:
    total_seed_steps: runs x steps of the whole sweep.
    log: where the lines go.
    score: what the validation measures ("val loss", "return").
    clock: seconds (monotonic).
  """

  def __init__(self, total_seed_steps: int, log: Callable[[str], None],
               score: str = "val loss", clock: Clock = time.monotonic):
    self.total, self.done, self.log, self.score, self.clock = (
        total_seed_steps, 0, log, score, clock)
    self.start = clock()
    self.trained = 0  # seed-steps trained in this process (the rate's numerator)

  def skip(self, seed_steps: int) -> None:
    """Counts seed-steps done before a resumption toward the ETA (not the rate)."""
    self.done += seed_steps

  def on_piece(self, event: PieceDone) -> None:
    """Logs the piece's line: step, rate, ETA, and the runs' median losses (q10, q90)."""
    self.done += event.seed_steps
    self.trained += event.seed_steps
    rate = self.trained / max(self.clock() - self.start, 1e-9)
    eta = (self.total - self.done) / max(rate, 1e-9)
    self.log(f"{event.label} step {event.step}/{event.total_steps} | {rate:,.0f} "
             f"seed-steps/s | ETA {format_duration(eta)} | train loss median "
             f"{_spread(event.train_loss)} | {self.score} median {_spread(event.eval_loss)} "
             "(q10, q90)")


def _spread(a: np.ndarray) -> str:
  a = a[np.isfinite(a)]
  return (f"{np.median(a):.4g} [{np.quantile(a, 0.1):.4g}, {np.quantile(a, 0.9):.4g}]"
          if a.size else "n/a")


def format_duration(s: float) -> str:
  """Seconds as m:ss, or h:mm:ss from an hour."""
  s = int(round(s))
  return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ProgressBar(Hook):
  """A progress bar of seed-steps with rate and ETA (`tqdm.auto`: a widget in
  Jupyter, text elsewhere), the runs' median validation score beside it.

  Args:
    total_seed_steps: runs x steps of the whole sweep.
    score: what the validation measures ("val loss", "return").
  """

  def __init__(self, total_seed_steps: int, score: str = "val loss"):
    with warnings.catch_warnings():  # without ipywidgets, a text bar: say nothing
      warnings.simplefilter("ignore")
      from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
    self.score = score
    self.bar = tqdm(total=total_seed_steps, unit="seed-step", unit_scale=True,
                    dynamic_ncols=True, desc="sweep")

  def skip(self, seed_steps: int) -> None:
    """Seed-steps done before a resumption: counted as the bar's start."""
    self.bar.n += seed_steps
    self.bar.initial += seed_steps
    self.bar.refresh()

  def on_piece(self, event: PieceDone) -> None:
    """Advances the bar by the piece's seed-steps; shows its median validation score."""
    self.bar.update(event.seed_steps)
    self.bar.set_postfix_str(f"{self.score} median {_spread(event.eval_loss)}", refresh=False)

  def close(self) -> None:
    """Closes the bar."""
    self.bar.close()


class MetricsLog(Hook):
  """Each piece's per-run numbers, as one record of the metric writers
  (`metrics.jsonl`: group, chunk, step, runs, conditions and [runs] lists;
  TensorBoard: the curves' quantiles at each validation of the piece)."""

  def __init__(self, writer: MetricWriter):
    self.writer = writer

  def on_piece(self, event: PieceDone) -> None:
    """Writes the piece's record (per-run lists in the chunk's run order)."""
    with writing("the metric writers' files"):
      self._write(event)

  def _write(self, event: PieceDone) -> None:
    self.writer.write_record({
        "group": event.group, "chunk": event.chunk, "step": event.step,
        "runs": len(event.conditions), "conditions": list(event.conditions),
        "train_loss": event.train_loss, "eval_loss": event.eval_loss,
        "eval_metric": event.eval_metric, "curves": event.curves})
    self.writer.flush()

  def close(self) -> None:
    """Closes the writers."""
    self.writer.close()


class Every:
  """A periodic action's timer: due once `seconds` have passed since the last mark.

  Args:
    seconds: the period (0: always due; inf: never, unless forced).
    clock: seconds (monotonic).
  """

  def __init__(self, seconds: float, clock: Clock = time.monotonic):
    self.seconds, self.clock, self.last = float(seconds), clock, -math.inf

  def due(self) -> bool:
    """Whether the period has passed since the last `mark` (always before the first)."""
    return self.clock() - self.last >= self.seconds

  def mark(self) -> None:
    """The action ran now."""
    self.last = self.clock()
