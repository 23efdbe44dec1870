"""Checks of the core API's arguments, made once at the edge.

  size = arguments.positive_int("init_params", "hidden_size", hidden_size)
  arguments.prng_key("init_params", key)
  bias = arguments.finite("init_params", "forget_bias", forget_bias)

Each check raises one `ConfigError` line that names the function, the argument,
the bad value and what is valid. Checks of a value skip a traced argument
(inside `jit`, `vmap` or `grad` the value is not known): they run in Python
when the function is traced or called eagerly, so a compiled program holds
none of them. Checks of a type or a shape also hold for tracers.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import jax
import numpy as np

from lstm_init.errors import ConfigError


def is_traced(value: Any) -> bool:
  """Whether `value` is a tracer (an argument of a function being traced).

  Args:
    value: anything.

  Returns:
    True inside `jit`, `vmap`, `grad` and friends, for the traced arguments.
  """
  return isinstance(value, jax.core.Tracer)


def _shown(value: Any) -> str:
  return f"{value!r} ({type(value).__name__})"


def _at(where: str) -> str:
  return f"{where}: " if where else ""


def positive_int(where: str, name: str, value: Any) -> int:
  """A size: an int (or NumPy integer) >= 1; bools, floats and strings are refused.

  Args:
    where: the function, for the message ("" for none).
    name: the argument's name.
    value: what was given.

  Returns:
    The size as a Python int.

  Raises:
    ConfigError: for anything but an integer >= 1.
  """
  ok = not isinstance(value, (bool, np.bool_))
  if ok:
    try:
      size = operator.index(value)
    except TypeError:
      ok = False
  if not ok or size < 1:
    raise ConfigError(f"{_at(where)}{name} must be >= 1 (a positive int), got {_shown(value)}")
  return size


def prng_key(where: str, value: Any, name: str = "key") -> None:
  """Refuses anything but one JAX PRNG key: a typed key (`jax.random.key`,
  shape []) or a raw uint32 key (`jax.random.PRNGKey`, shape [2] or [4]).

  Args:
    where: the function, for the message ("" for none).
    value: what was given (a tracer is checked by its dtype and shape).
    name: the argument's name.

  Raises:
    ConfigError: for an int, a float array, a batch of keys, ...
  """
  dtype, shape = getattr(value, "dtype", None), getattr(value, "shape", None)
  typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
  if typed and shape == ():
    return
  if not typed and dtype == np.uint32 and shape in ((2,), (4,)):
    return
  got = (f"an array of dtype {dtype} and shape {tuple(shape)}" if shape is not None
         else _shown(value))
  raise ConfigError(f"{_at(where)}{name} must be one JAX PRNG key, got {got}; valid: "
                    "jax.random.key(seed) (or the raw jax.random.PRNGKey(seed))")


def finite(where: str, name: str, value: Any, test: Callable[[float], bool] | None = None,
           valid: str = "a finite number") -> Any:
  """A number that is finite (and passes `test`); a traced value is returned unchecked.

  Args:
    where: the function, for the message ("" for none).
    name: the argument's name.
    value: what was given.
    test: a further condition on the number.
    valid: what is valid, for the message.

  Returns:
    The number as a float, or the tracer unchanged.

  Raises:
    ConfigError: for a non-number, a bool, NaN, an infinity or a failed `test`.
  """
  if is_traced(value):
    return value
  number = None
  if not isinstance(value, (bool, np.bool_, str, bytes)):
    try:
      number = float(value)
    except (TypeError, ValueError):
      number = None
  if number is None or not math.isfinite(number) or (test is not None and not test(number)):
    raise ConfigError(f"{_at(where)}bad {name} {_shown(value)}; valid: {valid}")
  return number


def rate(where: str, name: str, value: Any) -> Any:
  """A dropout rate in [0, 1); a traced value is returned unchecked.

  Args:
    where: the function, for the message ("" for none).
    name: the argument's name.
    value: what was given.

  Returns:
    The rate as a float, or the tracer unchanged.

  Raises:
    ConfigError: outside [0, 1), NaN included.
  """
  return finite(where, name, value, lambda r: 0.0 <= r < 1.0, "a number in [0, 1)")


def steps(where: str, name: str, value: Any, batch: int, time: int) -> None:
  """Per-row step counts: integers in [0, time], one per row; a traced value
  is checked by its shape and dtype only.

  Args:
    where: the function, for the message ("" for none).
    name: the argument's name.
    value: [batch] integers.
    batch: rows in the batch.
    time: steps of the sequences.

  Raises:
    ConfigError: for another shape, a non-integer dtype, or a count outside [0, time].
  """
  shape, dtype = np.shape(value), getattr(value, "dtype", None)
  if dtype is None:
    dtype = np.asarray(value).dtype
  if shape != (batch,) or not np.issubdtype(dtype, np.integer):
    raise ConfigError(f"{_at(where)}{name} must be [batch={batch}] integers, got shape "
                      f"{tuple(shape)} of {dtype}")
  if is_traced(value):
    return
  counts = np.asarray(value)
  bad = np.flatnonzero((counts < 0) | (counts > time))
  if bad.size:
    row = int(bad[0])
    raise ConfigError(f"{_at(where)}{name}[{row}] = {int(counts[row])} is outside [0, T={time}] "
                      f"({bad.size} row(s) outside); valid: step counts from 0 to the "
                      "sequence length")
