"""Ctrl-C and SIGTERM before training began: the process ends at once, in one line.

  with EarlyStop():          # an entry point's whole body (`engine.cli.run_main`)
    ...                      # start-up, planning, compiling: a signal ends the process now
    training_began()         # the loop trained a piece: its own handler decides from here
    ...
    training_ended()         # the loop stopped: a signal ends the process now again

While nothing has trained there is nothing to checkpoint, so a stop signal
needs no orderly end: it ends the process within a fraction of a second, even
inside XLA's compiler or another call that does not return to Python for
minutes (where a Python signal handler would wait). The C-level handler
writes the signal's number into a pipe (`signal.set_wakeup_fd`); a thread
reading that pipe prints one line and exits with status 130. Once the loop
has trained a piece, its own handler (`execute.signals.StopSignals`) finishes
the piece, checkpoints and stops; the thread then lets the signal pass.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

STOPS = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
STATUS = 130  # as `errors.ONE_LINE` gives an interruption


class _Phase:
  """Whether a loop is training (a stop signal is then the loop's to handle)."""

  training = False


def training_began() -> None:
  """From now on a stop signal is the training loop's to handle."""
  _Phase.training = True


def training_ended() -> None:
  """From now on a stop signal ends the process at once again."""
  _Phase.training = False


def stop_line(signum: int) -> str:
  """The line a stop signal before training ends the process with."""
  return (f"interrupted by {STOPS.get(signum, signal.Signals(signum).name)} before training "
          "began (while starting, planning or compiling): stopped at once; nothing was "
          "trained since the last checkpoint; run the same command again")


class EarlyStop:
  """Ends the process at once on SIGINT or SIGTERM while no loop is training.

  Entered on the main thread only (elsewhere it does nothing); restores the
  previous handlers and wakeup fd when it exits.

  Args:
    status: the exit status (130).
  """

  def __init__(self, status: int = STATUS):
    self.status = status
    self.active = False

  def __enter__(self) -> "EarlyStop":
    if threading.current_thread() is not threading.main_thread():
      return self
    self.read, self.write = os.pipe()
    os.set_blocking(self.write, False)
    self.old_fd = signal.set_wakeup_fd(self.write, warn_on_full_buffer=False)
    # A Python handler must be installed for the C handler to write the pipe;
    # the thread below does the work.
    self.old = {s: signal.signal(s, _noted) for s in STOPS}
    self.active = True
    training_ended()
    threading.Thread(target=self._watch, name="early-stop", daemon=True).start()
    return self

  def _watch(self) -> None:
    with open(self.read, "rb", buffering=0) as pipe:  # closed when the writer is
      for data in iter(lambda: pipe.read(64), b""):
        self._act(data)

  def _act(self, data: bytes) -> None:
    for signum in data:
      if signum in STOPS and not _Phase.training and self.active:
        sys.stdout.flush()
        print(f"error: {stop_line(signum)}", file=sys.stderr, flush=True)
        os._exit(self.status)

  def __exit__(self, *exc) -> None:
    if not self.active:
      return
    self.active = False
    for s, handler in self.old.items():
      signal.signal(s, handler)
    signal.set_wakeup_fd(self.old_fd)
    os.close(self.write)  # the thread reads the end of the pipe and returns
    training_ended()


def _noted(signum, frame) -> None:
  """The Python-level handler: nothing; the watching thread acts."""
