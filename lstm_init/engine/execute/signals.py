"""What the host loop hears: Ctrl-C and SIGTERM, as a flag checked between pieces."""

from __future__ import annotations

import signal
import threading


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
