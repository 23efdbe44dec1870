"""User-facing errors.

Every mistake a user can make through a config or a flag raises `ConfigError`
with one line that names the bad value and the valid choices. Entry points
catch it and print that line without a traceback.
"""

from __future__ import annotations

from typing import Iterable


class ConfigError(ValueError):
  """A bad value in a config, a flag or an argument, described in one line."""


def unknown(kind: str, value: object, choices: Iterable[str]) -> ConfigError:
  """Builds the error for a name that is not among `choices`.

  Args:
    kind: what the name is for, e.g. "preset" or "task".
    value: the name the user gave.
    choices: the valid names.

  Returns:
    A `ConfigError` whose message lists the valid names in sorted order.
  """
  valid = ", ".join(sorted(choices))
  return ConfigError(f"unknown {kind} {value!r}; valid choices: {valid}")


def require(condition: bool, message: str) -> None:
  """Raises `ConfigError(message)` unless `condition` holds."""
  if not condition:
    raise ConfigError(message)
