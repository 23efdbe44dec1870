"""Shared behaviour of the `experiments/*` entry points.

`run_main(fn)` runs `fn()`, turning a `ConfigError` (a bad value a user gave),
an `Interrupted` or an `OutOfMemory` into one line on stderr and its exit
status (2, 130, 3; `lstm_init.errors.ONE_LINE`), without a traceback.
`parse_flags` does the same for a flag or config override that does not parse
(for example a mistyped `--config.model.hidden_sise`); pass it to `app.run`.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Callable

import jax

from lstm_init.engine.runtime import cache, devices, early_stop, numerics, processes
from lstm_init.errors import ONE_LINE, ConfigError


def run_main(fn: Callable[[], object]) -> None:
  """Runs an entry point's body; one line and its exit status for the errors of
  `ONE_LINE` (a `ConfigError` exits 2, `Interrupted` 130, `OutOfMemory` 3).

  Ctrl-C or SIGTERM before training began ends the process at once, in one
  line (`runtime.early_stop`); while training, the loop finishes its piece and
  checkpoints, and a second Ctrl-C exits 130. Any other error of a process of
  several prints its traceback (or one line for a lost peer) and exits 1 at
  once; a one-line error of one of several is told to the others first
  (`processes.announce_stop`), so that they stop too instead of waiting.

  Args:
    fn: the entry point's body, called without arguments.

  Raises:
    Exception: any other error of a single-process run, as it is.
  """
  try:
    with early_stop.EarlyStop():
      fn()
  except tuple(ONE_LINE) as e:
    print(f"error: {e}", file=sys.stderr)
    processes.announce_stop(str(e))
    _exit(next(code for kind, code in ONE_LINE.items() if isinstance(e, kind)))
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    _exit(130)
  except Exception as e:  # noqa: BLE001 - one of several processes: never wait on the others
    if not processes.joined():
      raise
    if processes.lost_peer(e):
      first = " ".join(str(e).split())[:300]
      print(f"error: process {jax.process_index()} of {jax.process_count()} lost contact with "
            f"another process of this sweep ({first}); nothing final was written; run the "
            "same commands again to resume from the last checkpoint", file=sys.stderr)
    else:
      traceback.print_exc()
    _exit(1)


def _exit(status: int) -> None:
  """Exits; a process of several leaves without JAX's shutdown barrier, which
  waits for every other process (for minutes when one has died): the others
  at once, process 0 (the coordinator's) once they have left, or after a few
  seconds (`processes.leave`)."""
  if not processes.joined():
    sys.exit(status)
  sys.stdout.flush()
  sys.stderr.flush()
  processes.leave()
  os._exit(status)


def _one_line(e: BaseException) -> str:
  msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
  msg = " ".join(msg.replace("\\n", " ").replace("\\'", "'").split())
  if len(msg) > 1 and msg[0] == msg[-1] and msg[0] in "'\"":
    msg = msg[1:-1]
  return msg


def _bad_flag(e: BaseException) -> None:
  print(f"error: bad flag: {_one_line(e)}", file=sys.stderr)
  sys.exit(2)


def define_config(default_path: str, help_text: str = "Experiment config file."):
  """`config_flags.DEFINE_config_file("config", ...)` with one-line errors.

  ml_collections applies `--config.<field>=...` overrides while the flag is
  defined, so a mistyped field fails at import time; report it like any bad
  flag.

  Args:
    default_path: the config file used without `--config`.
    help_text: the flag's help.

  Returns:
    The flag holder (exits with status 2 on a bad flag or config file).
  """
  from ml_collections import config_flags
  try:
    return config_flags.DEFINE_config_file("config", default_path, help_text,
                                           lock_config=True)
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    _bad_flag(e)
  except (OSError, ImportError, SyntaxError) as e:
    _bad_config_file(e)


def _bad_config_file(e: BaseException) -> None:
  print(f"error: {_config_file_error(e)}", file=sys.stderr)
  sys.exit(2)


def _config_file_error(e: BaseException) -> str:
  """One line for a config file that does not load (ml_collections' message is long)."""
  text = str(e)
  path = text.split("Attempted [Relative path]:", 1)[-1].split("[Errno", 1)[0].split()
  where = f" {path[0]}" if "Attempted" in text and path else ""
  if "No such file or directory" in text:
    return f"cannot load the config file{where}: no such file"
  if isinstance(e, IsADirectoryError) or "Is a directory" in text:
    folder = text.rpartition("Is a directory:")[2].strip().strip("'\"") or where.strip()
    return (f"config file {folder!r} is a folder; valid: a Python file defining get_config(), "
            "e.g. configs/default.py")
  return f"cannot load the config file{where}: {' '.join(text.split())}"


TRACE_FLAGS = ("--trace", "--verbose")


def wants_trace(argv: list[str] | None = None) -> bool:
  """Whether the command line asks for tracebacks (`--trace` or `--verbose`).

  Args:
    argv: the command line; None reads `sys.argv`.

  Returns:
    True when a trace flag is given (bare or `=true`).
  """
  return any(a in TRACE_FLAGS or a.split("=")[0] in TRACE_FLAGS and a.endswith("=true")
             for a in (sys.argv if argv is None else argv))


def _config_path(argv: list[str]) -> str | None:
  for a in argv:
    if a.startswith("--config="):
      return os.path.abspath(a.split("=", 1)[1].split(":")[0])
  return None


def _raised_in(e: BaseException, path: str | None) -> bool:
  """Whether `e` was raised by code in the file `path` (a config file's own error)."""
  tb = e.__traceback__
  while tb is not None:
    if path and os.path.abspath(tb.tb_frame.f_code.co_filename) == path:
      return True
    tb = tb.tb_next
  return False


def _config_raised(e: BaseException, path: str) -> None:
  if wants_trace():
    traceback.print_exception(e)
  print(f"error: config file {path}: get_config raised {type(e).__name__}: {_one_line(e)} "
        f"({' or '.join(TRACE_FLAGS)} shows the traceback)", file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with errors reported in one line and exit status 2.

  A config file's own error (its `get_config` raising, or no `get_config`)
  names the file and the exception; `--trace` adds the traceback.

  Args:
    argv: the command line.

  Returns:
    The arguments absl leaves (the program name and positional ones).

  Raises:
    SystemExit: status 2 for a bad flag or a config file that fails; any
      other error is raised as it is.
  """
  from absl import flags
  # The host devices first: a config file's imports (gymnax) may start JAX's backend.
  try:
    devices.configure_cpu_devices(argv)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  numerics.configure_xla_flags()  # the backend's deterministic flags, before it starts
  path = _config_path(argv)
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # noqa: BLE001 - every way a config file can fail is one line
    if _raised_in(e, path):
      _config_raised(e, path)
    if isinstance(e, AttributeError) and "get_config" in str(e) and path:
      print(f"error: config file {path} has no get_config(); valid: a file defining "
            "get_config() that returns an ml_collections.ConfigDict", file=sys.stderr)
      sys.exit(2)
    if isinstance(e, (OSError, ImportError, SyntaxError)):  # a file that does not load
      _bad_config_file(e)
    if isinstance(e, (flags.Error, KeyError, AttributeError, TypeError, ValueError)):
      _bad_flag(e)
    raise


def config_value(flag):
  """The parsed config of a `define_config` flag; a file that fails to load, or
  whose `get_config` returns something else than a ConfigDict, is a one-line
  `ConfigError`.

  Args:
    flag: the holder `define_config` returned.

  Returns:
    The `ml_collections.ConfigDict`.

  Raises:
    ConfigError: for a config file that does not load or returns no ConfigDict.
  """
  import ml_collections
  try:
    value = flag.value
    if not isinstance(value, ml_collections.ConfigDict):
      value.to_dict()  # a file that failed to load holds its error until first used
  except (OSError, ImportError, SyntaxError) as e:
    raise ConfigError(_config_file_error(e)) from None
  except AttributeError:
    pass  # a get_config that returned something else: refused below
  if not isinstance(value, ml_collections.ConfigDict):
    from absl import flags
    path = flags.FLAGS[flag.name].config_filename
    raise ConfigError(f"config file {path}: get_config "
                      f"returned a value of type {type(value).__name__}, expected an "
                      "ml_collections.ConfigDict (start from lstm_init.engine.spec.base_config())")
  return value


def given_values(flag) -> dict:
  """The `--config.<path>=value` overrides given on the command line, by path.

  Args:
    flag: the holder `define_config` returned.

  Returns:
    {dotted path: value}.
  """
  from absl import flags
  from ml_collections import config_flags
  return dict(config_flags.get_override_values(flags.FLAGS[flag.name]))


# The shared flags an entry point's --help lists (each entry point declares them key).
RUN_FLAGS = ("config", "dry_run", "cpu_devices", "compilation_cache", "trace")


def define_run_flags() -> None:
  """The flags every training entry point shares: `--cpu_devices` (read by
  `devices.configure_cpu_devices(sys.argv)` in `parse_flags`, before JAX starts) and
  `--compilation_cache` (see `runtime.cache.enable`)."""
  cache.define_flag()
  from absl import flags
  flags.DEFINE_integer("cpu_devices", None, "Host devices on the CPU (default: one per core; "
                       "read before JAX starts).")
  flags.DEFINE_bool("dry_run", False, "Plan and check: print what would run and where; train "
                    "and write nothing.")
  flags.DEFINE_bool("trace", False, "Print the traceback of a config file's own error.")
  flags.DEFINE_bool("verbose", False, "The same as --trace.")


def start_run(log: Callable[[str], None] = print) -> None:
  """Sets up the devices, joins the other processes, turns on the compilation
  cache and logs the devices: the first thing an entry point's `main` does,
  before anything touches JAX's backend.

  Args:
    log: where the device and cache lines go.

  Raises:
    ConfigError: from `runtime.cache.enable`.
  """
  from absl import flags
  processes.initialize()
  folder = cache.enable(flags.FLAGS.compilation_cache)
  log_devices(log)
  log(f"compilation cache: {folder or 'off'}")


def log_devices(log: Callable[[str], None] = print) -> None:
  """Logs the JAX version, backend, devices and processes (joining them first).

  Args:
    log: where the line goes.
  """
  # Backends that are not there (TPU, GPU plugins) are not news on a CPU machine.
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
  processes.initialize()  # before anything touches the backend
  devs = jax.devices()
  log(f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
      f"({', '.join(sorted({d.device_kind for d in devs}))}), "
      f"{jax.process_count()} process(es)")
