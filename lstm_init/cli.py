"""Shared behaviour of the `experiments/*` entry points.

`run_main(fn)` runs `fn()`, turning a `ConfigError` (a bad value a user gave)
into one line on stderr and exit status 2, without a traceback.
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


def log_devices(log: Callable[[str], None] = print) -> None:
  import jax
  devs = jax.devices()
  log(f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
      f"({', '.join(sorted({d.device_kind for d in devs}))}), "
      f"{jax.process_count()} process(es)")
