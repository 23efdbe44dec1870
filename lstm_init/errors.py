"""Errors a user meets, each said in one line.

Every mistake a user can make through a config or a flag raises `ConfigError`
with one line that names the bad value and the valid choices. A sweep that
stops on a signal raises `Interrupted`, and one that cannot fit in memory
`OutOfMemory`, each with one line that says what was kept and what to do.
Entry points catch all three (`ONE_LINE`) and print the line without a
traceback: exit status 2 for bad input, 130 for an interrupt, 3 for memory.
"""

from __future__ import annotations

from typing import Iterable


class ConfigError(ValueError):
  """A bad value in a config, a flag or an argument, described in one line."""


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped a sweep: the current piece finished and a
  checkpoint was written; the message says where, and how to resume."""


class OutOfMemory(Exception):
  """The devices ran out of memory with the smallest chunk the sweep can cut;
  the message names the setting to change."""


# The errors an entry point reports in one line, and its exit status for each.
ONE_LINE = {ConfigError: 2, Interrupted: 130, OutOfMemory: 3}


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
