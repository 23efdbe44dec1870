"""Command lines run in real processes without paying Python's and JAX's start-up
each time (about 3 s of a test's subprocess, before it compiles anything).

  proc = forked.start(["-m", "experiments.seed_sweep", "--workdir=..."])
  proc.send_signal(signal.SIGTERM); out, err = proc.communicate(timeout=60)
  out = forked.run(["-m", "experiments.reproduce", ...])   # .returncode, .stdout, .stderr

Each command is a process of its own (its pid, signals, exit status, JAX backend
and flags), forked from multiprocessing's fork server, which has imported JAX and
lstm_init once (and started neither JAX's backend nor a thread). The child then
does what `python -m module` or `python -c code` does: it sets the environment,
the working folder, `sys.argv` and `sys.path[0]`, runs the module as `__main__`
(the entry point's own `app.run`), and exits the way the interpreter does
(non-daemon threads joined, atexit handlers run, streams flushed) with the
status Python would give. Its stdout (block-buffered unless `unbuffered`, as
with `python -u`) and stderr (line-buffered) go to files that the parent reads.
What a fresh interpreter alone shows stays with tests that start one
(tests/test_cli_faults.py: an entry point's import must not start JAX's
backend); and what JAX reads from the environment when it is imported
(JAX_PLATFORMS, JAX_ENABLE_X64, ...) is the server's, the test process's when
it first forked. XLA_FLAGS and LSTM_INIT_* are read later, so `env` sets them.
"""

from __future__ import annotations

import atexit
import builtins
import io
import multiprocessing
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import weakref

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What every entry point imports (none starts JAX's backend or a thread on import).
PRELOAD = ("jax", "numpy", "absl.app", "ml_collections.config_flags", "lstm_init",
           "lstm_init.engine.cli", "lstm_init.engine.sweep", "lstm_init.engine.reproduce",
           "lstm_init.report.document", "matplotlib.pyplot", "tests.forked")
TimeoutExpired = subprocess.TimeoutExpired
_context = None


def _fork_server():
  global _context
  if _context is None:
    if ROOT not in sys.path:  # the server imports this module by name
      sys.path.insert(0, ROOT)
    _context = multiprocessing.get_context("forkserver")
    _context.set_forkserver_preload(list(PRELOAD))
  return _context


def _stream(fd: int, unbuffered: bool, line_buffering: bool) -> io.TextIOWrapper:
  raw = io.FileIO(fd, "w", closefd=False)
  binary = raw if unbuffered else io.BufferedWriter(raw)
  return io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace",
                          line_buffering=line_buffering, write_through=unbuffered)


def _child(argv, cwd, env, out_path, err_path, unbuffered):  # in the forked process
  os.chdir(cwd)
  os.environ.clear()
  os.environ.update(env)
  for fd, path in ((1, out_path), (2, err_path)):
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(f, fd)
    os.close(f)
  sys.stdout = sys.__stdout__ = _stream(1, unbuffered, line_buffering=False)
  sys.stderr = sys.__stderr__ = _stream(2, unbuffered, line_buffering=True)
  status, killed_by = 0, None
  try:
    if argv[0] == "-m":
      sys.argv = [argv[1], *argv[2:]]  # runpy puts the module's file first, as -m does
      sys.path.insert(0, cwd)
      runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
      sys.argv = ["-c", *argv[2:]]
      sys.path.insert(0, "")
      main = types.ModuleType("__main__")
      main.__builtins__ = builtins
      sys.modules["__main__"] = main
      exec(compile(argv[1], "<string>", "exec"), main.__dict__)  # noqa: S102
    else:
      raise ValueError(f"-m module or -c code, not {argv[0]!r}")
  except SystemExit as e:
    if e.code is None or isinstance(e.code, int):
      status = e.code or 0
    else:
      print(e.code, file=sys.stderr)
      status = 1
  except KeyboardInterrupt:  # as the interpreter: the traceback, then killed by SIGINT
    traceback.print_exc()
    killed_by = signal.SIGINT
  except BaseException:  # noqa: BLE001 - as the interpreter: the traceback, status 1
    traceback.print_exc()
    status = 1
  finally:
    threading._shutdown()  # pylint: disable=protected-access  (joins non-daemon threads)
    atexit._run_exitfuncs()  # pylint: disable=protected-access
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except Exception:  # noqa: BLE001 - a stream closed by the program
        pass
  if killed_by is not None:
    signal.signal(killed_by, signal.SIG_DFL)
    os.kill(os.getpid(), killed_by)
  os._exit(status & 0xFF)


class Forked:
  """A started command: `subprocess.Popen`'s pid, poll, wait, send_signal, kill,
  returncode (negative for a signal) and communicate, with text output."""

  def __init__(self, argv, cwd=ROOT, env=None, unbuffered=False):
    self._dir = tempfile.mkdtemp(prefix="forked-")
    self.out_path = os.path.join(self._dir, "stdout")
    self.err_path = os.path.join(self._dir, "stderr")
    self.args = list(argv)
    for path in (self.out_path, self.err_path):
      open(path, "wb").close()  # there before the child writes, for stdout_lines
    self._process = _fork_server().Process(
        target=_child, args=(self.args, str(cwd), dict(os.environ if env is None else env),
                             self.out_path, self.err_path, unbuffered),
        daemon=True)  # one left running is ended when the tests end, not waited for
    self._process.start()
    weakref.finalize(self, shutil.rmtree, self._dir, True)
    self.pid = self._process.pid
    self._texts = None

  @property
  def returncode(self):
    return self._process.exitcode

  def poll(self):
    return self._process.exitcode

  def wait(self, timeout=None):
    self._process.join(timeout)
    if self._process.exitcode is None:
      raise subprocess.TimeoutExpired(self.args, timeout)
    return self._process.exitcode

  def send_signal(self, sig):
    if self._process.exitcode is None:
      os.kill(self.pid, sig)

  def kill(self):
    self.send_signal(signal.SIGKILL)

  def read(self):
    """What it has written so far: (stdout, stderr)."""
    if self._texts is not None:
      return self._texts
    out = []
    for path in (self.out_path, self.err_path):
      with open(path, encoding="utf-8", errors="backslashreplace") as f:
        out.append(f.read())
    return tuple(out)

  def communicate(self, timeout=None):
    """Waits for the exit; returns (stdout, stderr)."""
    self.wait(timeout)
    if self._texts is None:
      self._texts = self.read()
    return self._texts

  def stdout_lines(self, timeout=240):
    """Its stdout's lines as they are written, until it exits (or `timeout`)."""
    deadline = time.time() + timeout
    pending = b""
    with open(self.out_path, "rb") as f:
      while True:
        exited = self.poll() is not None
        pending += f.read()
        *lines, pending = pending.split(b"\n")
        for line in lines:
          yield (line + b"\n").decode("utf-8", "backslashreplace")
        if exited:
          if pending:
            yield pending.decode("utf-8", "backslashreplace")
          return
        if time.time() > deadline:
          raise subprocess.TimeoutExpired(self.args, timeout)
        time.sleep(0.02)


def start(argv, cwd=ROOT, env=None, unbuffered=False) -> Forked:
  """Starts `python <argv>` (argv: ["-m", module, ...] or ["-c", code, ...])."""
  return Forked(argv, cwd, env, unbuffered)


def run(argv, cwd=ROOT, env=None, timeout=300) -> subprocess.CompletedProcess:
  """`subprocess.run([sys.executable, *argv], capture_output=True, text=True)`."""
  proc = start(argv, cwd, env)
  try:
    out, err = proc.communicate(timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate(30)
    raise
  return subprocess.CompletedProcess(argv, proc.returncode, out, err)
