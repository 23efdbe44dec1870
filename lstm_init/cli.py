"""Shared behaviour of the `experiments/*` entry points.

`run_main(fn)` runs `fn()`, turning a `ConfigError` (a bad value a user gave)
into one line on stderr and exit status 2, without a traceback.
`parse_flags` does the same for a flag or config override that does not parse
(for example a mistyped `--config.model.hidden_sise`); pass it to `app.run`.
"""

from __future__ import annotations

import sys
from typing import Callable

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


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with errors reported in one line and exit status 2."""
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
    _bad_flag(e)


def config_value(flag):
  """The parsed config of a `define_config` flag; a file that fails to load is a
  one-line `ConfigError`."""
  try:
    value = flag.value
    value.to_dict()  # a config that failed to load raises on first attribute access
    return value
  except (OSError, ImportError, SyntaxError) as e:
    detail = " ".join(str(e).split())
    raise ConfigError(f"cannot load the config file: {detail}") from None


def log_devices(log: Callable[[str], None] = print) -> None:
  import jax
  devs = jax.devices()
  log(f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
      f"({', '.join(sorted({d.device_kind for d in devs}))}), "
      f"{jax.process_count()} process(es)")
