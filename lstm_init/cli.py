"""Shared behaviour of the `experiments/*` entry points.

`run_main(fn)` runs `fn()`, turning a `ConfigError` (a bad value a user gave)
into one line on stderr and exit status 2, without a traceback.
`parse_flags` does the same for a flag or config override that does not parse
(for example a mistyped `--config.model.hidden_sise`); pass it to `app.run`.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

import jax

from lstm_init import distributed
from lstm_init.errors import ConfigError


def run_main(fn: Callable[[], object]) -> None:
  try:
    fn()
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)


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
  return f"cannot load the config file{where}: {' '.join(text.split())}"


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with errors reported in one line and exit status 2."""
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
    _bad_flag(e)
  except (OSError, ImportError, SyntaxError) as e:  # a config file that does not load
    _bad_config_file(e)


def config_value(flag):
  """The parsed config of a `define_config` flag; a file that fails to load is a
  one-line `ConfigError`."""
  try:
    value = flag.value
    value.to_dict()  # a config that failed to load raises on first attribute access
    return value
  except (OSError, ImportError, SyntaxError) as e:
    raise ConfigError(_config_file_error(e)) from None


def given_values(flag) -> dict:
  """The `--config.<path>=value` overrides given on the command line, by path."""
  from absl import flags
  from ml_collections import config_flags
  return dict(config_flags.get_override_values(flags.FLAGS[flag.name]))


def define_cpu_devices() -> None:
  """The `--cpu_devices` flag; `devices.configure_cpu_devices(sys.argv)` reads it
  before JAX starts, so every entry point has the same device setup."""
  from absl import flags
  flags.DEFINE_integer("cpu_devices", None, "Host devices on the CPU (default: one per core; "
                       "read before JAX starts).")


def log_devices(log: Callable[[str], None] = print) -> None:
  # Backends that are not there (TPU, GPU plugins) are not news on a CPU machine.
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
  distributed.initialize()  # before anything touches the backend
  devs = jax.devices()
  log(f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
      f"({', '.join(sorted({d.device_kind for d in devs}))}), "
      f"{jax.process_count()} process(es)")
