"""Sweep axes: `path=v1,v2,...` parsed, typed and multiplied into conditions.

  path, values = parse_sweep("model.init.preset=keras,pytorch", config)
  axes, notes = resolve_axes(config, sweep, given)
  conditions = expand_conditions(config, axes)   # the cartesian product, each a config

Values are typed as the field they set, exactly as `--config.<path>=<text>`
types them (`set_from_text`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any, Mapping, Sequence

import ml_collections

from lstm_init import dotted
from lstm_init.errors import ConfigError


@dataclasses.dataclass(frozen=True, eq=False)
class Axis:
  """One combination of the axes' values: a name and the config it sets."""

  name: str                          # its axis values, e.g. "preset=keras"
  overrides: dict[str, Any]          # {dotted path: value} of the axes
  config: ml_collections.ConfigDict  # the whole config with the overrides set


def coerce(config, path: str, text: str, where: str = " in --sweep"):
  """`text` typed as the field at `path` (bool, int, float, tuple as `a;b`, str).

  Raises:
    ConfigError: for an unknown field or a value that does not parse.
  """
  parent, name = dotted.field(config, path)
  kind = parent.get_type(name)
  text = text.strip()
  try:
    if kind is bool:
      if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError
      return text.lower() in ("true", "1")
    if kind is int:
      return int(text)
    if kind is float:
      return float(text)
    if kind in (tuple, list):
      return tuple(v for v in text.split(";") if v)
  except ValueError:
    raise ConfigError(f"bad value {text!r} for {path}{where}; expected "
                      f"{kind.__name__}") from None
  return text


def set_from_text(config, path: str, text: str):
  """Sets `--config.<path>=<text>` into `config` as the command line does;
  returns the typed value (one line for an unknown field or a bad value).

  Args:
    config: the config, changed in place.
    path: a dotted field, e.g. "model.hidden_size".
    text: the value as given on the command line.
  Returns:
    The value, typed as the field.
  Raises:
    ConfigError: for an unknown field or a value of the wrong type.
  """
  value = coerce(config, path, text, where="")
  parent, name = dotted.field(config, path)
  parent[name] = value
  return value


def split_values(text: str) -> list[str]:
  """An axis' values split on the commas outside parentheses, so that
  `variance_scaling(scale=2,mode=fan_out),glorot_uniform` is two values."""
  out, depth, start = [], 0, 0
  for i, ch in enumerate(text):
    depth += {"(": 1, ")": -1}.get(ch, 0)
    if ch == "," and depth == 0:
      out.append(text[start:i])
      start = i + 1
  return out + [text[start:]]


def parse_sweep(spec: str, config) -> tuple[str, list[Any]]:
  """Parses `path=v1,v2,...` into (path, typed values).

  Args:
    spec: the axis, e.g. "model.init.preset=keras,pytorch".
    config: the config whose field types apply.
  Returns:
    (dotted path, [values] typed as the field).
  Raises:
    ConfigError: for a malformed spec, an empty or repeated value, a bad field.
  """
  if not isinstance(spec, str):
    raise ConfigError(f"malformed --sweep {spec!r}: each axis is a string "
                      "<config path>=<v1>,<v2>,..., e.g. model.init.preset=keras,pytorch")
  path, eq, values = spec.partition("=")
  path = path.strip()
  if not eq or not path or not values.strip():
    raise ConfigError(f"malformed --sweep {spec!r}; expected <config path>=<v1>,<v2>,... "
                      "e.g. model.init.preset=keras,pytorch")
  items = split_values(values)
  empty = [i + 1 for i, v in enumerate(items) if not v.strip()]
  if empty:
    raise ConfigError(f"malformed --sweep {spec!r}: value {empty[0]} of {len(items)} is empty; "
                      "expected <config path>=<v1>,<v2>,... with every value given")
  typed = [coerce(config, path, v) for v in items]
  for i, v in enumerate(typed):
    if v in typed[:i]:
      raise ConfigError(f"--sweep {spec!r} gives the value {items[i].strip()!r} twice; each "
                        "value of an axis is one condition: give it once")
  return path, typed


def expand_conditions(config, sweep: Sequence[str], named: Sequence[str] = ()) -> list[Axis]:
  """The cartesian product of the sweep axes, each a resolved config.

  A condition is named by its axis values, after the fields in `named` (the
  fields a user fixed in place of a default axis).

  Args:
    config: the base config.
    sweep: the axes, each `path=v1,v2,...`.
    named: dotted paths whose values go first in every condition's name.
  Returns:
    One `Axis` per combination (one, named `config.name`, without axes).
  Raises:
    ConfigError: for a bad axis or a field given in two axes.
  """
  axes = [parse_sweep(s, config) for s in sweep]
  paths = [p for p, _ in axes]
  if len(set(paths)) != len(paths):
    raise ConfigError(f"a config field appears twice in --sweep: {paths}")
  out = []
  for combo in itertools.product(*[v for _, v in axes]):
    cfg = copy.deepcopy(config)
    overrides = dict(zip(paths, combo))
    for path, value in overrides.items():
      dotted.assign(cfg, path, value)
    fixed = [f"{dotted.short(p)}={dotted.get(cfg, p)}" for p in named]
    name = ",".join(fixed + [f"{dotted.short(p)}={v}" for p, v in overrides.items()]) or config.name
    out.append(Axis(name, overrides, cfg))
  return out


def check_axes(sweep) -> None:
  """Refuses sweep axes that are not a list of strings (a str is one string,
  not a list of its characters).

  Raises:
    ConfigError: naming the value and the valid form.
  """
  if isinstance(sweep, str):
    raise ConfigError(f"sweep={sweep!r} is one string; valid: a list of axes, e.g. "
                      f"sweep=[{sweep!r}]")
  for spec in sweep or ():
    if not isinstance(spec, str):
      raise ConfigError(f"sweep axis {spec!r} is a {type(spec).__name__}; valid: strings "
                        "<config path>=<v1>,<v2>,..., e.g. model.init.preset=keras,pytorch")


def resolve_axes(config, sweep: Sequence[str] | None,
                 given: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
  """The sweep axes that run, and a line for each default axis a user replaced.

  The rule, the same for every field and config: `--sweep` axes replace the
  config's default `sweep` as a whole; a value given with `--config.<path>=v`
  for a field that the default `sweep` varies replaces that axis (the run
  uses v); a field given both with `--config.<path>` and in `--sweep` is
  refused, since one of the two would be ignored.

  Args:
    config: the experiment config.
    sweep: the `--sweep` axes (empty or None: the config's own `sweep`).
    given: the `--config.<path>` values from the command line, by path.

  Returns:
    (axes: the `path=v1,...` specs that run, notes: one line per default axis
    replaced by a given value).

  Raises:
    ConfigError: for a field given both in `given` and in `sweep`, or a
      `sweep` that is one string instead of a list of axes.
  """
  check_axes(sweep)
  given = dict(given or {})
  given.pop("sweep", None)  # --config.sweep=... is the default sweep itself
  if sweep:
    for spec in sweep:
      path = str(spec).partition("=")[0].strip()
      if path in given:
        raise ConfigError(
            f"{path} is given twice, as --config.{path}={given[path]} and as "
            f"--sweep={spec}; give one value with --config.{path}=<v> or several with "
            f"--sweep={path}=<v1>,<v2>")
    return list(sweep), []
  axes, notes = [], []
  for spec in config.sweep:
    path = spec.partition("=")[0].strip()
    if path in given:
      notes.append(f"{path}={given[path]} given: the default sweep over {path} is replaced")
    else:
      axes.append(spec)
  return axes, notes
