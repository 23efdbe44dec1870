"""Windowed forecasting of a univariate series.

The setting many researchers start from: a series cut into windows of
`window` steps with a given overlap (for example 95 steps, 50% overlap), the
next value as the target, and a chronological train/validation/test split.

Series: `mackey_glass` (the delay differential equation with tau = 17, a
standard chaotic benchmark), `noisy_sines` (three periods plus Gaussian
noise), or a user file: `path` to a `.npy` (1-D, or 2-D [steps, columns]) or
`.csv` (UTF-8 or Latin-1; comma, semicolon or tab; a header row is skipped),
whose `column`-th column is read. Values are standardized with the training
part's mean and standard deviation; a constant series is refused.

`target="last"` predicts the value right after each window from the last step
(the usual Keras set-up); `target="all"` predicts the next value at every step,
which gives a loss per position within the window. `stream=True` trains on
consecutive windows of long training stretches (`windows_per_sequence` of
them), which stateful training needs; otherwise the windows are shuffled each
epoch.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from lstm_init import fields
from lstm_init.errors import ConfigError, require
from lstm_init.training.tasks.base import (EVAL_ROWS, OVERLAP, PATH, WINDOW, WINDOWS_PER_SEQUENCE,
                                           Batch, Task, TaskDef, add_window_axis, epoch_indices,
                                           eval_windows, overlap_stride, r2_against,
                                           window_positions)
from lstm_init.training.tasks.files import (check_float32_range, read_csv_column,
                                            read_npy_column)

SERIES = ("mackey_glass", "noisy_sines", "file")
TARGETS = ("last", "all")


def mackey_glass(n: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1,
                 power: int = 10, x0: float = 1.2, substeps: int = 10,
                 discard: int = 500) -> np.ndarray:
  """The Mackey-Glass series sampled once per time unit (Euler, `substeps` per unit).

  Args:
    n: values returned.
    tau, beta, gamma, power: the equation's delay and coefficients.
    x0: the constant history the integration starts from.
    substeps: Euler steps per time unit.
    discard: leading time units dropped (the transient).

  Returns:
    [n] float32 series.
  """
  dt = 1.0 / substeps
  lag = tau * substeps
  total = (n + discard) * substeps
  x = np.full(total + lag, x0)
  for t in range(lag, total + lag - 1):
    delayed = x[t - lag]
    x[t + 1] = x[t] + dt * (beta * delayed / (1.0 + delayed ** power) - gamma * x[t])
  return x[lag::substeps][discard:discard + n].astype(np.float32)


def noisy_sines(n: int, seed: int, noise: float = 0.1) -> np.ndarray:
  """Sines of periods 24, 50 and 130 steps plus N(0, noise^2), from `seed`.

  Args:
    n: values returned.
    seed: the noise seed.
    noise: the noise standard deviation.

  Returns:
    [n] float32 series.
  """
  t = np.arange(n)
  clean = sum(np.sin(2 * np.pi * t / p + i) / (i + 1) for i, p in enumerate((24, 50, 130)))
  return (clean + noise * np.random.default_rng(seed).normal(size=n)).astype(np.float32)


MISSING = ("refuse", "drop", "interpolate")


def handle_missing(arr: np.ndarray, policy: str, where: str, first_line: int = 1
                   ) -> tuple[np.ndarray, str]:
  """Applies `task.missing` to the NaNs of a series.

  Args:
    arr: [n] series, NaN (or inf) where a value is missing.
    policy: one of `MISSING`.
    where: the series' name in messages.
    first_line: the file line (or position) of arr[0], for messages.

  Returns:
    (the series, a note for the task description: "" when nothing was missing).

  Raises:
    ConfigError: with `policy="refuse"` when a value is missing, naming how
      many and where, and the other choices; for an unknown policy; when fewer
      than 2 values are left.
  """
  if policy not in MISSING:
    raise ConfigError(f"unknown task.missing {policy!r}; valid choices: {', '.join(MISSING)}")
  gaps = np.flatnonzero(~np.isfinite(arr))
  if gaps.size == 0:
    return arr, ""
  lines = ", ".join(str(int(g) + first_line) for g in gaps[:8]) + (", ..." if gaps.size > 8
                                                                  else "")
  found = f"{gaps.size} missing value(s) of {arr.size} in {where} (lines {lines})"
  if policy == "refuse":
    raise ConfigError(f"{found}; set task.missing to 'drop' (joins the series across each gap, "
                      "shifting time) or 'interpolate' (linear, edges held); valid choices: "
                      f"{', '.join(MISSING)}")
  ok = np.flatnonzero(np.isfinite(arr))
  if ok.size < 2:
    raise ConfigError(f"{found}: fewer than 2 values left")
  if policy == "drop":
    return arr[ok], f"; {found} dropped"
  filled = np.interp(np.arange(arr.size), ok, arr[ok])
  return filled, f"; {found} interpolated"


def load_series(path: str, column: int = 0, missing: str = "refuse") -> tuple[np.ndarray, str]:
  """A 1-D float series from a .npy or .csv file, and a note on missing values.

  Missing values (empty or non-numeric CSV fields, NaN) are handled by
  `missing` (see `handle_missing`); they are never dropped silently. The file
  is read by `lstm_init.training.tasks.files` (encoding, delimiter, `.npy`
  columns).

  Args:
    path: a `.npy` (1-D, or 2-D [steps, columns]) or `.csv` file.
    column: the column read (of a CSV file or a 2-D array).
    missing: one of `MISSING`.

  Returns:
    ([n] float32 series, note for the task description: the encoding or
    delimiter when not UTF-8 and comma, and the missing values).

  Raises:
    ConfigError: for a missing or unreadable file, another file type, a bad
      column, a value beyond float32's range, missing values that `missing`
      refuses, or fewer than 10 values.
  """
  if not os.path.isfile(path):
    raise ConfigError(f"task.path {path!r} is not a file")
  if path.endswith(".npy"):
    arr, first, unit, note = read_npy_column(path, column), 0, "position", ""
  elif path.endswith(".csv"):
    (arr, first, note), unit = read_csv_column(path, column), "line"
  else:
    raise ConfigError(f"task.path {path!r}: valid file types: .csv, .npy")
  check_float32_range(arr, path, first, unit)
  arr, missing_note = handle_missing(arr, missing, repr(path), first)
  if path.endswith(".npy"):
    missing_note = missing_note.replace("(lines", "(positions")
  arr = np.asarray(arr, np.float32)
  if arr.size < 10:
    raise ConfigError(f"task.path {path!r} holds only {arr.size} values")
  return arr, note + missing_note


def make_series(cfg) -> tuple[np.ndarray, str]:
  """The series and a note on missing values ("" for generated series).

  Args:
    cfg: the `config.task` section: series, series_length, series_seed and,
      for files, path, column, missing.

  Returns:
    ([n] float32 series, note).

  Raises:
    ConfigError: for an unknown series, `file` without a path, or a bad file.
  """
  name = str(cfg.series)
  if name == "mackey_glass":
    return mackey_glass(int(cfg.series_length)), ""
  if name == "noisy_sines":
    return noisy_sines(int(cfg.series_length), int(cfg.series_seed)), ""
  if name == "file":
    if not cfg.path:
      raise ConfigError("task.series='file' needs task.path (a .csv or .npy file)")
    return load_series(str(cfg.path), int(cfg.column), str(cfg.missing))
  raise ConfigError(f"unknown series {name!r}; valid choices: {', '.join(SERIES)}")


def _name(cfg) -> str:
  return f"task.path {str(cfg.path)!r}" if str(cfg.series) == "file" else f"series {cfg.series}"


def _check_varies(series: np.ndarray, parts: dict[str, np.ndarray], cfg) -> None:
  """Refuses a series that standardization cannot scale: constant (then r2
  has no baseline), constant in its training part, or too large for float32."""
  if series.min() == series.max():
    raise ConfigError(f"{_name(cfg)} is constant (every value {series[0]:.6g}): nothing to "
                      "forecast and r2 has no baseline; valid: a series that varies")
  if parts["train"].size < 2:
    return  # shorter than one window: refused below
  spread = parts["train"].std()
  if spread == 0:
    raise ConfigError(f"the training part of {_name(cfg)} is constant, so it cannot be "
                      "standardized; valid: a series whose training part varies (see "
                      "task.split)")
  if not np.isfinite(spread):
    raise ConfigError(f"the training part of {_name(cfg)} overflows float32 when "
                      f"standardized (values up to {np.abs(series).max():.3g}); valid: a "
                      "series rescaled to smaller magnitudes")


def make_forecast(cfg, eval_key) -> Task:
  """The windowed forecasting task.

  Args:
    cfg: the `config.task` section: target, split, window, overlap, stream,
      windows_per_sequence, eval_rows and the series settings (`make_series`).
    eval_key: unused; evaluation uses the fixed chronological val/test parts.

  Returns:
    The `Task`: xs [batch, window, 1], ys [batch, window, 1] (the next values;
    with `target="last"` only the last step counts), metric r2.

  Raises:
    ConfigError: for an unknown target, a bad split, a window below 2 or a
      part shorter than one window.
  """
  del eval_key  # evaluation uses the fixed chronological val/test parts
  target = str(cfg.target)
  if target not in TARGETS:
    raise ConfigError(f"unknown forecast target {target!r}; valid choices: "
                      f"{', '.join(TARGETS)}")
  series, missing_note = make_series(cfg)
  fractions = [float(f) for f in str(cfg.split).split(",")]
  require(len(fractions) == 3 and all(f > 0 for f in fractions),
          f"task.split must be three positive fractions like '0.7,0.15,0.15', got {cfg.split!r}")
  cuts = np.cumsum(np.array(fractions) / sum(fractions) * len(series)).astype(int)
  parts = {"train": series[:cuts[0]], "val": series[cuts[0]:cuts[1]], "test": series[cuts[1]:]}
  _check_varies(series, parts, cfg)
  mean, std = parts["train"].mean(), parts["train"].std() + 1e-8
  parts = {k: jnp.asarray((v - mean) / std) for k, v in parts.items()}
  window, stream = int(cfg.window), bool(cfg.stream)
  stride = overlap_stride(window, float(cfg.overlap))
  k = int(cfg.windows_per_sequence) if stream else 1
  require(window >= 2, f"task.window must be >= 2, got {window}")

  def batch_at(series_part, pos):
    """Inputs series[pos[..., :-1]], targets the next values."""
    xs = series_part[pos[..., :-1]][..., None]
    nxt = series_part[pos[..., 1:]]
    if target == "last":
      ys = jnp.zeros_like(nxt).at[..., -1].set(nxt[..., -1])
      mask = jnp.zeros_like(nxt).at[..., -1].set(1.0)
    else:
      ys, mask = nxt, jnp.ones_like(nxt)
    return xs, ys[..., None], mask

  if stream:
    def train_batch(data, key, step, b):
      pos, reset = window_positions(key, step, data["train"].shape[0], window, stride, k, b,
                                    extra=1)
      xs, ys, mask = batch_at(data["train"], pos)
      return Batch(xs, ys, mask, reset, mask)
  else:
    n_train = (len(parts["train"]) - window - 1) // stride + 1
    require(n_train >= 1, f"the training part is shorter than one window of {window}")
    starts = jnp.arange(n_train) * stride

    def train_batch(data, key, step, b):
      pos = starts[epoch_indices(key, step, n_train, b)][:, None] + jnp.arange(window + 1)
      xs, ys, mask = batch_at(data["train"], pos)
      return Batch(xs, ys, mask, jnp.ones((b,), bool), mask)

  data = {"train": parts["train"]}
  for split in ("val", "test"):
    n = parts[split].shape[0]
    if stream:
      pos, windows = eval_windows(n, window, stride, int(cfg.eval_rows), extra=1)
      xs, ys, mask = batch_at(parts[split], pos)
      reset = jnp.broadcast_to(jnp.arange(windows)[:, None] == 0, mask.shape[:2])
      data[split] = Batch(xs, ys, mask, reset, mask)
    else:
      count = (n - window - 1) // stride + 1
      require(count >= 1, f"the {split} part is shorter than one window of {window}")
      pos = (jnp.arange(count) * stride)[:, None] + jnp.arange(window + 1)
      xs, ys, mask = batch_at(parts[split], pos)
      data[split] = add_window_axis(Batch(xs, ys, mask, jnp.ones((count,), bool), mask))
  val = data["val"]
  baseline = float(jnp.sum(val.ys[..., 0] ** 2 * val.mask) / jnp.sum(val.mask))
  require(baseline != 0.0, f"the validation targets of {_name(cfg)} all equal the training "
                           "mean, so r2 has no baseline (0); valid: a series whose "
                           "validation part varies (see task.split)")
  return Task(
      name="forecast", input_size=1, output_size=1, loss="mse", metric="r2",
      baseline=baseline,
      baseline_note="predicting the training mean: the validation targets' mean square "
                    f"in standardized units ({baseline:.3f}); r2 = 1 - MSE/baseline",
      window=window, stride=stride, windows_per_sequence=k, data=data,
      train_batch=train_batch, eval_set=lambda data, split: data[split],
      description=f"forecast {cfg.series}, windows of {window} (stride {stride}), next value "
                  f"{'after the window' if target == 'last' else 'at every step'}"
                  + (f", streams of {k} windows" if stream else ", shuffled windows")
                  + missing_note,
      metric_of=r2_against(baseline))


_FILE = (lambda t: t.series == "file", "task.series=file")
FORECAST = TaskDef("forecast", make_forecast, (
    fields.Field("series", "mackey_glass", "the series", choices=SERIES),
    fields.Field("series_length", 4000, "steps of a generated series", fields.at_least(1)),
    fields.Field("series_seed", 0, "the noise of noisy_sines"),
    PATH,
    fields.Field("column", 0, "the CSV column (or .npy column) of the series"),
    fields.Field("missing", "refuse", "missing values in a file", choices=MISSING),
    fields.Field("target", "last", "\"last\" (the value after the window) or \"all\" (the "
                 "next value at every step)", choices=TARGETS),
    fields.Field("stream", False, "consecutive windows (needed for stateful training)"),
    fields.Field("split", "0.7,0.15,0.15", "chronological train,val,test fractions"),
    WINDOW, WINDOWS_PER_SEQUENCE, OVERLAP, EVAL_ROWS),
    used_when={"series_length": (lambda t: t.series != "file",
                                 "a generated series (task.series=mackey_glass or noisy_sines)"),
               "series_seed": (lambda t: t.series == "noisy_sines", "task.series=noisy_sines"),
               "path": _FILE, "column": _FILE, "missing": _FILE},
    stateful="with task.stream=True")
