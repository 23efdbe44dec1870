"""Reading the data files researchers bring: text, CSV columns and `.npy` arrays.

  text, note = read_text(path)                      # UTF-8, else Latin-1 with a note
  values, first_line, note = read_csv_column(path, column)
  values = read_npy_column(path, column)

A file is read as it was written: UTF-8 (a byte-order mark is skipped in
CSV files), else Latin-1 with a note for the task's description; a CSV
file's delimiter (comma, semicolon or tab) is detected, and decimal commas
of a semicolon- or tab-separated file are read as decimal points. What
cannot be read is refused in one line that names the file and what is valid:
a binary or UTF-16 file, an ambiguous delimiter, an `.npy` of objects or of
another format, a column the array does not have, a value beyond float32's
range. The notes are empty for a plain UTF-8, comma-separated file, so its
task description stays the same.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from lstm_init.errors import ConfigError

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+([eE][+-]?\d+)?\s*$")
_SAMPLE_LINES = 200


def read_text(path: str, bom: bool = False) -> tuple[str, str]:
  """A text file's contents: UTF-8, else Latin-1 (every byte is a character).

  Args:
    path: the file.
    bom: skip a UTF-8 byte-order mark at the start (as spreadsheets write it).

  Returns:
    (the text, a note: "" for UTF-8, else one saying it was read as Latin-1).

  Raises:
    ConfigError: for a file holding NUL bytes (binary, or UTF-16 text).
  """
  with open(path, "rb") as f:
    data = f.read()
  if b"\x00" in data:
    raise ConfigError(f"task.path {path!r} holds NUL bytes: a binary or UTF-16 file; valid: "
                      "a text file in UTF-8 (or Latin-1)")
  try:
    return data.decode("utf-8-sig" if bom else "utf-8"), ""
  except UnicodeDecodeError as e:
    return data.decode("latin-1"), (f"; read as Latin-1: {path!r} is not UTF-8 (byte "
                                    f"{data[e.start]:#04x} at offset {e.start})")


def _parse(field: str, delimiter: str) -> float | None:
  """A CSV field as a float, or None where it is not a number. With a
  semicolon or tab delimiter, a decimal comma ("1,5") reads as 1.5."""
  try:
    return float(field)
  except ValueError:
    if delimiter != "," and _DECIMAL_COMMA.match(field):
      return float(field.replace(",", "."))
    return None


def _number(field: str, delimiter: str) -> float:
  """`_parse`, with NaN for an empty field or one that is not a number."""
  value = _parse(field, delimiter)
  return np.nan if value is None else value


def _delimiter(lines: list[str], path: str) -> str:
  """The delimiter that splits `lines` into the most numeric fields."""
  scores = {}
  for d in DELIMITERS:
    rows = list(csv.reader(lines, delimiter=d))
    if max((len(r) for r in rows), default=0) >= 2:
      fields = [c for r in rows[1:] or rows for c in r]
      numeric = sum(np.isfinite(_number(c, d)) for c in fields)
      scores[d] = numeric / max(len(fields), 1)
  if not scores:
    return ","  # one column: no delimiter in any line
  best = max(scores.values())
  tied = [d for d, s in scores.items() if s == best]
  if len(tied) > 1:
    names = " and ".join(f"{DELIMITERS[d]} ({d!r})" for d in tied)
    raise ConfigError(f"task.path {path!r}: the delimiter is ambiguous: its lines split on "
                      f"{names} alike; valid: one delimiter of comma, semicolon or tab")
  return tied[0]


def read_csv_column(path: str, column: int) -> tuple[np.ndarray, int, str]:
  """One column of a CSV file, as researchers write them.

  Args:
    path: the file.
    column: the column read (0 is the first).

  Returns:
    ([n] float64 values, NaN where a field is empty or not a number; the file
    line of the first value (a first line that is not numeric is a header);
    a note for the description: the encoding and delimiter when they are not
    UTF-8 and comma, else "").

  Raises:
    ConfigError: for an empty, binary or unparsable file, an ambiguous
      delimiter, or a column the file does not have.
  """
  text, note = read_text(path, bom=True)
  sample = [line for line in text.splitlines() if line.strip()][:_SAMPLE_LINES]
  delimiter = _delimiter(sample, path)
  if delimiter != ",":
    note += f"; {DELIMITERS[delimiter]}-separated"
  try:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
  except csv.Error as e:
    raise ConfigError(f"task.path {path!r} is not a readable CSV file ({e}); valid: one "
                      "value per field, separated by comma, semicolon or tab") from None
  while rows and not any(c.strip() for c in rows[-1]):  # blank lines at the end
    rows.pop()
  if not rows:
    raise ConfigError(f"task.path {path!r} is empty")
  width = max(len(r) for r in rows)
  if not 0 <= column < width:
    raise ConfigError(f"task.column {column} is not a column of {path!r} "
                      f"({DELIMITERS[delimiter]}-separated); valid: 0 to {width - 1}")

  def number(row):
    return _number(row[column], delimiter) if column < len(row) else np.nan

  first = 1
  if np.isnan(number(rows[0])) and any(c.strip() for c in rows[0]):
    if any(_parse(c, delimiter) is None for c in rows[0] if c.strip()):
      rows, first = rows[1:], 2  # text in the first line: a header
  return np.array([number(r) for r in rows], np.float64), first, note


def read_npy_column(path: str, column: int) -> np.ndarray:
  """A series from a `.npy` file: the array if 1-D, its `column` if 2-D ([steps, columns]).

  Args:
    path: the file.
    column: the column of a 2-D array; 0 for a 1-D one.

  Returns:
    [n] float64 values.

  Raises:
    ConfigError: for a file that is not a `.npy` array, an array of objects or
      of a non-numeric dtype, a rank other than 1 or 2, or a column the array
      does not have.
  """
  try:
    arr = np.load(path, allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    why = str(e).split("\n")[0]
    if "allow_pickle" in why:
      why = "it holds Python objects (dtype object or pickled data), which are not loaded"
    raise ConfigError(f"task.path {path!r} is not a numeric .npy array: {why}; valid: a "
                      "1-D or 2-D array of numbers written by numpy.save") from None
  if not isinstance(arr, np.ndarray):  # an .npz archive
    arr.close()
    raise ConfigError(f"task.path {path!r} is an .npz archive; valid: one 1-D or 2-D array "
                      "written by numpy.save")
  if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
    raise ConfigError(f"task.path {path!r} holds an array of dtype {arr.dtype}; valid: "
                      "integers or floats")
  if arr.ndim == 1:
    if column != 0:
      raise ConfigError(f"task.column {column} is not a column of {path!r} (a 1-D array of "
                        f"{arr.shape[0]} values); valid: 0")
    return arr.astype(np.float64)
  if arr.ndim == 2:
    if not 0 <= column < arr.shape[1]:
      raise ConfigError(f"task.column {column} is not a column of {path!r} (an array of "
                        f"shape {arr.shape}: [steps, columns]); valid: 0 to {arr.shape[1] - 1}")
    return arr[:, column].astype(np.float64)
  raise ConfigError(f"task.path {path!r} holds an array of shape {arr.shape}; valid: 1-D "
                    "[steps] or 2-D [steps, columns] (task.column picks one)")


def check_float32_range(values: np.ndarray, path: str, first: int, unit: str = "line") -> None:
  """Refuses finite values that float32 cannot hold (they would become inf).

  Args:
    values: [n] float64 values (NaN and inf are left to the missing-value policy).
    path: the file, for the message.
    first: the line (or position) of values[0].
    unit: "line" or "position".

  Raises:
    ConfigError: naming the first such value and where it is.
  """
  big = np.flatnonzero(np.isfinite(values) & (np.abs(values) > FLOAT32_MAX))
  if big.size:
    i = int(big[0])
    more = f" ({big.size} such values)" if big.size > 1 else ""
    raise ConfigError(f"task.path {path!r} {unit} {i + first}: {values[i]:.6g} is beyond "
                      f"float32's range{more}; valid: finite values of magnitude at most "
                      f"{FLOAT32_MAX:.6g} (rescale the series)")
