"""Config fields, declared beside the code that reads them.

  LENGTH = Field("length", 50, "steps per sequence T", at_least(2))
  OPTIMIZER = Field("optimizer", "adam", "the update rule", choices=OPTIMIZERS)
  MOMENTUM = Field("momentum", 0.9, "sgd's momentum", in_range(0, 1),
                   used_when=(lambda c: c.train.optimizer == "sgd", "train.optimizer=sgd"))
  section = to_config(FIELDS)        # an ml_collections.ConfigDict of the defaults

A module that reads config fields declares them (a task its `task.*`
fields, the optimizer its `train.*` ones, the engine the top-level ones);
the schema (`lstm_init.engine.spec.schema`) composes the declarations into
`base_config()`, checks values against them and says when a field has no
effect, and the docs' config reference is generated from the same
declarations.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, Sequence

import ml_collections
from ml_collections import config_dict

from lstm_init.errors import ConfigError

FINITE = "a finite number"


@dataclasses.dataclass(frozen=True)
class Valid:
  """A numeric field's valid values: a test and the words that say it."""

  test: Callable[[float], bool]
  text: str


def at_least(low: float) -> Valid:
  """Valid: `>= low`."""
  return Valid(lambda v: v >= low, f">= {low}")


def above(low: float) -> Valid:
  """Valid: `> low`."""
  return Valid(lambda v: v > low, f"> {low}")


def in_range(low: float, high: float, closed: bool = False, text: str = "") -> Valid:
  """Valid: in [low, high) (or [low, high] when `closed`)."""
  if closed:
    return Valid(lambda v: low <= v <= high, text or f"in [{low}, {high}]")
  return Valid(lambda v: low <= v < high, text or f"in [{low}, {high})")


ANY_FINITE = Valid(lambda v: True, FINITE)


@dataclasses.dataclass(frozen=True)
class Field:
  """One config field: its name in its section, default, comment and what is valid.

  Attributes:
    name: the path inside its section ("length", "init.preset").
    default: the default value (None: no value, `kind` gives the type).
    comment: one line on what it does (the config reference shows it).
    valid: a numeric field's valid range, checked for every condition before
      anything trains (NaN and inf are refused too).
    choices: the names a string field accepts (documented; its reader checks).
    kind: the type of a field whose default is None.
    used_when: (config -> whether a run of that config reads it, the setting
      in words); None: always read (by whoever reads the section).
  """

  name: str
  default: Any
  comment: str
  valid: Valid | None = None
  choices: tuple[str, ...] = ()
  kind: type | None = None
  used_when: tuple[Callable[[Any], bool], str] | None = None

  def valid_text(self) -> str:
    """What a value must be, in words ("" when anything of its type is)."""
    if self.choices:
      return ", ".join(map(str, self.choices))
    return self.valid.text if self.valid is not None else ""


def to_config(fields: Iterable[Field]) -> ml_collections.ConfigDict:
  """A ConfigDict of the fields' defaults (nested where a name has dots).

  Args:
    fields: the declarations, in the order the section lists them.

  Returns:
    A fresh ConfigDict.
  """
  out = ml_collections.ConfigDict()
  for f in fields:
    *head, name = f.name.split(".")
    node = out
    for part in head:
      if part not in node:
        node[part] = ml_collections.ConfigDict()
      node = node[part]
    node[name] = (config_dict.placeholder(f.kind) if f.default is None else
                  (tuple(f.default) if isinstance(f.default, list) else f.default))
  return out


def merge(*groups: Sequence[Field]) -> tuple[Field, ...]:
  """The fields of several declarations of one section, each name once.

  A name declared twice must be the same declaration (a field shared by two
  readers is declared once and listed by both).

  Raises:
    ValueError: for one name with two different declarations.
  """
  out: dict[str, Field] = {}
  for group in groups:
    for f in group:
      if f.name in out and out[f.name] != f:
        raise ValueError(f"field {f.name!r} is declared twice, differently: {out[f.name]} "
                         f"and {f}")
      out.setdefault(f.name, f)
  return tuple(out.values())


def check_value(path: str, value: Any, valid: Valid) -> None:
  """Refuses a numeric value outside its range, NaN and inf included.

  Args:
    path: the field's dotted path (for the message).
    value: the value (None and booleans are not checked).
    valid: the range.

  Raises:
    ConfigError: naming the field, the value and the valid range.
  """
  if value is None or isinstance(value, bool):
    return
  ok = isinstance(value, (int, float)) and math.isfinite(value) and valid.test(value)
  if not ok:
    raise ConfigError(f"bad value {value!r} for {path}; valid: {valid.text}"
                      + ("" if valid.text == FINITE else f", {FINITE}"))
