"""JAX's persistent compilation cache: where it lives, and turning it on.

  cache.enable(None)        # $LSTM_INIT_COMPILATION_CACHE, $JAX_COMPILATION_CACHE_DIR or
                            # ~/.cache/lstm_init/jax; "off" turns it off
"""

from __future__ import annotations

import os

import jax

from lstm_init.errors import ConfigError

CACHE_ENV = "LSTM_INIT_COMPILATION_CACHE"
DEFAULT_CACHE = os.path.join("~", ".cache", "lstm_init", "jax")
CACHE_OFF = ("", "off", "none")


def define_flag() -> None:
  """The `--compilation_cache` flag (see `enable`)."""
  from absl import flags
  flags.DEFINE_string("compilation_cache", None,
                      f"Folder of JAX's persistent compilation cache, so a repeated or resumed "
                      f"sweep skips compiling (default: ${CACHE_ENV}, else "
                      f"$JAX_COMPILATION_CACHE_DIR, else {DEFAULT_CACHE}); 'off' disables it.")


def enable(value: str | None = None) -> str | None:
  """Turns on JAX's persistent compilation cache; returns its folder (None: off).

  `value` (the flag), else `$LSTM_INIT_COMPILATION_CACHE`, else JAX's own
  `$JAX_COMPILATION_CACHE_DIR`, else ~/.cache/lstm_init/jax. Every program is
  cached, however fast it compiled.

  Args:
    value: a folder, or "", "off" or "none" to turn the cache off; None for
      the environment's or the default.

  Returns:
    The cache's absolute folder, or None when off.

  Raises:
    ConfigError: when the folder cannot be created.
  """
  if value is None:
    value = os.environ.get(CACHE_ENV, os.environ.get("JAX_COMPILATION_CACHE_DIR",
                                                     DEFAULT_CACHE))
  if value.strip().lower() in CACHE_OFF:
    jax.config.update("jax_compilation_cache_dir", None)
    return None
  path = os.path.abspath(os.path.expanduser(value))
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise ConfigError(f"--compilation_cache {value!r} cannot be created ({e.strerror}); give a "
                      "writable folder, or 'off'") from None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  return path
