"""What a task is: data as arrays, pure batch functions, a documented baseline.

A task's batch functions are pure functions of `(data, key, step)`, traced
inside the jitted training chunk; `data` is a pytree of arrays passed in as an
argument (never baked into the program as constants).

Batches:
  xs     [batch, time, input_size] float32
  ys     [batch, time] int32 (cross-entropy) or [batch, time, output] float32
  mask   [batch, time] float32: which positions count in the loss
  reset  [batch] bool: the carry of this row starts afresh in this window
         (sequence start). Stateless training resets every window anyway.
  score  [batch, time] float32: positions the accuracy metric counts (the
         recall positions of the copy task; elsewhere equal to mask).

Evaluation sets carry a leading window axis `[windows, batch, ...]`: the
windows of one row are consecutive pieces of one sequence, evaluated in order
(stateful evaluation carries the state from one to the next).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError


class Batch(NamedTuple):
  """One batch of a task; the shapes are in the module docstring.

  Attributes:
    xs: [batch, time, input_size] float32 inputs.
    ys: [batch, time] int32 or [batch, time, output] float32 targets.
    mask: [batch, time] float32 loss weights.
    reset: [batch] bool, the row starts a new sequence.
    score: [batch, time] float32 positions the accuracy counts.
  """

  xs: jax.Array
  ys: jax.Array
  mask: jax.Array
  reset: jax.Array
  score: jax.Array


@dataclasses.dataclass(frozen=True)
class Task:
  """A training task.

  Attributes:
    name: registry name.
    input_size, output_size: features per step in and out.
    loss: "mse" or "xent".
    metric: name of the reported metric ("r2", "accuracy", "bpc").
    baseline: the loss of a model that learned nothing useful (see note).
    baseline_note: how the baseline is defined.
    window: time steps per training window.
    stride: steps between the starts of consecutive windows of one sequence.
    windows_per_sequence: K, consecutive windows per training sequence (1 for
      tasks whose examples are independent).
    data: pytree of arrays, the first argument of the batch functions.
    train_batch: (data, key, step, batch_size) -> Batch.
    eval_set: (data, split) -> Batch with a leading window axis; split is
      "val" or "test".
    description: one line for reports.
    early_positions: how many first positions of a window the report sets
      apart ("the first k steps after a reset"); 0 = a tenth of the window.
  """

  name: str
  input_size: int
  output_size: int
  loss: str
  metric: str
  baseline: float
  baseline_note: str
  window: int
  stride: int
  windows_per_sequence: int
  data: Any
  train_batch: Callable[..., Batch]
  eval_set: Callable[[Any, str], Batch]
  description: str
  early_positions: int = 0

  @property
  def first_k(self) -> int:
    """The number of early positions reports compare with the rest."""
    return self.early_positions or max(1, self.window // 10)

  @property
  def stream(self) -> bool:
    """Whether consecutive training windows continue the same sequences."""
    return self.windows_per_sequence > 1


def metric_value(task: Task, mean_loss: jax.Array, accuracy: jax.Array) -> jax.Array:
  """The task's metric from the mean loss and the accuracy over masked positions.

  Args:
    task: the task; `task.metric` picks the formula.
    mean_loss: scalar (or any shape) mean loss.
    accuracy: the accuracy, same shape.

  Returns:
    accuracy, bits per character (loss / ln 2) or r2 (1 - loss / baseline).

  Raises:
    ConfigError: for an unknown metric.
  """
  if task.metric == "accuracy":
    return accuracy
  if task.metric == "bpc":
    return mean_loss / jnp.log(2.0)
  if task.metric == "r2":
    return 1.0 - mean_loss / task.baseline
  raise ConfigError(f"unknown metric {task.metric!r}")


def epoch_indices(key: jax.Array, step: jax.Array, n: int, batch: int) -> jax.Array:
  """Indices of one batch from a fresh permutation of n items per epoch.

  Epoch e uses `permutation(fold_in(key, e), n)`; batch i of the epoch is its
  slice [i * batch, (i + 1) * batch). The last partial batch is dropped.

  Args:
    key: the data key.
    step: scalar int training step (may be traced).
    n: items in the training set.
    batch: batch size.

  Returns:
    [batch] int indices into the n items.

  Raises:
    ConfigError: when batch > n.
  """
  if batch > n:
    raise ConfigError(f"batch_size {batch} is larger than the {n} training examples")
  per_epoch = n // batch
  epoch, i = step // per_epoch, step % per_epoch
  perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
  return jax.lax.dynamic_slice(perm, (i * batch,), (batch,))


def window_positions(key: jax.Array, step: jax.Array, length: int, window: int,
                     stride: int, windows: int, batch: int, extra: int = 0):
  """Positions of the current window of `batch` sequences cut from a long series.

  Training sequence r of epoch e (e = step // windows) starts at a random
  offset drawn from `fold_in(key, e)`; window k = step % windows of it covers
  positions [start + k * stride, start + k * stride + window + extra).

  Args:
    key: the data key.
    step: scalar int training step (may be traced).
    length: steps in the series.
    window, stride: steps per window and between window starts.
    windows: windows per training sequence.
    batch: sequences in the batch.
    extra: steps added after each window (e.g. 1 for next-step targets).

  Returns:
    (positions [batch, window + extra] ints, reset [batch] bool: k == 0).

  Raises:
    ConfigError: when a training sequence is longer than the series.
  """
  span = (windows - 1) * stride + window + extra
  if span > length:
    raise ConfigError(f"a training sequence of {windows} windows needs {span} steps but "
                      f"the series has {length}")
  epoch, k = step // windows, step % windows
  starts = jax.random.randint(jax.random.fold_in(key, epoch), (batch,), 0,
                              length - span + 1)
  pos = starts[:, None] + k * stride + jnp.arange(window + extra)[None, :]
  return pos, jnp.full((batch,), k == 0)


def eval_windows(length: int, window: int, stride: int, rows: int, extra: int = 0):
  """Positions of an evaluation set: `rows` contiguous stretches cut into windows.

  Args:
    length: steps in the split.
    window, stride: steps per window and between window starts.
    rows: contiguous stretches, each `length // rows` steps.
    extra: steps added after each window.

  Returns:
    (positions [windows, rows, window + extra], windows per row).

  Raises:
    ConfigError: when a stretch is too short for one window.
  """
  per_row = length // rows
  k = (per_row - window - extra) // stride + 1
  if k < 1:
    raise ConfigError(f"evaluation split of {length} steps is too short for {rows} rows "
                      f"of windows of {window}")
  starts = jnp.arange(rows) * per_row
  pos = (starts[None, :, None] + jnp.arange(k)[:, None, None] * stride
         + jnp.arange(window + extra)[None, None, :])
  return pos, k


def one_hot_batch(tokens: jax.Array, targets: jax.Array, mask: jax.Array, reset: jax.Array,
                  vocab: int, score: jax.Array | None = None) -> Batch:
  """A cross-entropy batch with one-hot inputs.

  Args:
    tokens: [batch, time] int input tokens.
    targets: [batch, time] int target tokens.
    mask: [batch, time] loss positions (any dtype, cast to float32).
    reset: [batch] bool.
    vocab: vocabulary size V.
    score: [batch, time] accuracy positions; None means `mask`.

  Returns:
    A `Batch` with xs [batch, time, V] float32 and ys int32.
  """
  mask = mask.astype(jnp.float32)
  return Batch(jax.nn.one_hot(tokens, vocab, dtype=jnp.float32), targets.astype(jnp.int32),
               mask, reset, mask if score is None else score.astype(jnp.float32))


def add_window_axis(batch: Batch) -> Batch:
  """An evaluation set of one window per row: [batch, ...] -> [1, batch, ...].

  Args:
    batch: a `Batch` without a window axis.

  Returns:
    The same `Batch` with a leading window axis of size 1.
  """
  return jax.tree.map(lambda a: a[None], batch)


def overlap_stride(window: int, overlap: float) -> int:
  """Stride between windows with the given overlap fraction (0 <= overlap < 1).

  Args:
    window: steps per window.
    overlap: fraction of a window shared with the next.

  Returns:
    `max(1, round(window * (1 - overlap)))`.

  Raises:
    ConfigError: when overlap is outside [0, 1).
  """
  if not 0.0 <= overlap < 1.0:
    raise ConfigError(f"overlap must be in [0, 1), got {overlap}")
  return max(1, int(round(window * (1.0 - overlap))))
