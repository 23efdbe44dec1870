"""Dotted field paths of a config ("model.init.preset"): the one walker.

  get(config, "model.hidden_size")             # the value, or None where absent
  parent, name = field(config, "task.length")  # one line for an unknown field
  assign(config, "train.learning_rate", 0.1)   # sets it, whatever its type was
  flat = flatten(config.to_dict())             # {"model.hidden_size": 32, ...}

Works on `ml_collections.ConfigDict`s and on plain nested dicts alike.
"""

from __future__ import annotations

from typing import Any, Mapping

from lstm_init.errors import ConfigError


def _keys(node) -> list[str]:
  return sorted(node.keys()) if isinstance(node, Mapping) or hasattr(node, "keys") else []


def _is_section(node) -> bool:
  return hasattr(node, "keys") and hasattr(node, "__getitem__")


def get(config, path: str, default: Any = None) -> Any:
  """The value at `path`, or `default` where a part of the path is absent.

  Args:
    config: a ConfigDict or a nested dict.
    path: a dotted path.
    default: returned when the path is absent.

  Returns:
    The value.
  """
  node = config
  for part in path.split("."):
    if not _is_section(node) or part not in node:
      return default
    node = node[part]
  return node


def field(config, path: str) -> tuple[Any, str]:
  """(the section that holds the field, the field's name) of a dotted path.

  Args:
    config: a ConfigDict or a nested dict.
    path: a dotted path.

  Returns:
    (parent section, last name).

  Raises:
    ConfigError: naming the unknown part and the fields valid there.
  """
  parts = path.split(".")
  node = config
  for i, part in enumerate(parts):
    if not _is_section(node) or part not in node:
      where = ".".join(parts[:i]) or "the config"
      raise ConfigError(f"unknown config field {path!r}; valid fields under {where}: "
                        f"{', '.join(_keys(node))}")
    if i < len(parts) - 1:
      node = node[part]
  return node, parts[-1]


def assign(config, path: str, value: Any) -> None:
  """Sets the field at `path` (which must exist) to `value`, of any type.

  Args:
    config: a ConfigDict or a nested dict, changed in place.
    path: a dotted path.
    value: the new value.

  Raises:
    ConfigError: for an unknown field.
  """
  parent, name = field(config, path)
  if hasattr(parent, "ignore_type"):
    with parent.ignore_type():
      parent[name] = value
  else:
    parent[name] = value


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """A nested dict as {"a.b.c": value}.

  Args:
    d: the nested dict.
    prefix: put before every path.

  Returns:
    The flat dict, in the nested dict's order.
  """
  out = {}
  for k, v in d.items():
    if isinstance(v, Mapping):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def short(path: str) -> str:
  """The last name of a dotted path ("model.init.preset" -> "preset")."""
  return path.split(".")[-1]
