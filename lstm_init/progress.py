"""What the host loop shows and hears: progress lines, Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from typing import Callable

import numpy as np


class Progress:
  """Progress lines with rate and ETA at every piece."""

  def __init__(self, total_seed_steps: int, log: Callable[[str], None],
               score: str = "val loss"):
    self.total, self.done, self.log, self.score = total_seed_steps, 0, log, score
    self.start = time.time()

  def update(self, seed_steps: int, prefix: str, losses: np.ndarray, evals: np.ndarray):
    self.done += seed_steps
    rate = self.done / max(time.time() - self.start, 1e-9)
    eta = (self.total - self.done) / max(rate, 1e-9)
    desc = lambda a: (f"{np.median(a):.4g} [{np.quantile(a, 0.1):.4g}, "
                      f"{np.quantile(a, 0.9):.4g}]") if a.size else "n/a"
    self.log(f"{prefix} | {rate:,.0f} seed-steps/s | ETA {_fmt_time(eta)} | train loss "
             f"median {desc(losses[np.isfinite(losses)])} | {self.score} median "
             f"{desc(evals[np.isfinite(evals)])} (q10, q90)")


def _fmt_time(s: float) -> str:
  s = int(round(s))
  return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Interrupted(Exception):
  """SIGINT or SIGTERM during a sweep: the current piece finished and a checkpoint
  was written."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C; a scheduler's notice (SLURM)


class StopSignals:
  """Turns the first SIGINT or SIGTERM into a flag the loop checks between pieces."""

  def __init__(self):
    self.hit, self.old = False, {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self.old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
    return self

  def _handle(self, signum, frame):
    if self.hit:  # a second signal stops at once
      raise KeyboardInterrupt
    self.hit = True

  def __exit__(self, *exc):
    for s, handler in self.old.items():
      signal.signal(s, handler)
