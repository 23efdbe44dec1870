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

from lstm_init import fields as fields_lib
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
    metric: name of the reported metric ("r2", "accuracy", "bpc"), computed
      by `metric_of`.
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
    metric_of: (mean loss, accuracy over scored positions) -> the metric
      (`accuracy`, `bits_per_char`, `r2_against(baseline)`, or a task's own).
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
  metric_of: Callable[[jax.Array, jax.Array], jax.Array]
  early_positions: int = 0

  @property
  def first_k(self) -> int:
    """The number of early positions reports compare with the rest."""
    return self.early_positions or max(1, self.window // 10)

  @property
  def stream(self) -> bool:
    """Whether consecutive training windows continue the same sequences."""
    return self.windows_per_sequence > 1


def accuracy(mean_loss: jax.Array, accuracy_: jax.Array) -> jax.Array:
  """The metric "accuracy": the share of scored positions predicted right."""
  del mean_loss
  return accuracy_


def bits_per_char(mean_loss: jax.Array, accuracy_: jax.Array) -> jax.Array:
  """The metric "bpc": the mean cross-entropy in bits (loss / ln 2)."""
  del accuracy_
  return mean_loss / jnp.log(2.0)


def r2_against(baseline: float) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """The metric "r2" of a task whose baseline is the variance of its target:
  1 - loss / baseline."""
  return lambda mean_loss, accuracy_: 1.0 - mean_loss / baseline


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


# ---------------------------------------------------------------------------
# What a task declares: its builder and the `config.task` fields it reads.


@dataclasses.dataclass(frozen=True)
class TaskDef:
  """A task as the registry knows it (`lstm_init.training.tasks.TASKS`).

  Attributes:
    name: the value of `config.task.name` that picks it.
    build: (config.task section, evaluation key) -> `Task`.
    fields: the `config.task` fields it reads (`lstm_init.fields.Field`; a
      field several tasks read is one declaration, listed by each).
    used_when: {field name: (task section -> whether it is read, the setting
      in words)} for fields it reads only in some settings.
    stateful: in words, when its windows continue each other, so that
      stateful training can run on it ("" never, "always", or the setting).
  """

  name: str
  build: Callable[[Any, jax.Array], Task]
  fields: tuple[fields_lib.Field, ...]
  used_when: dict[str, tuple[Callable[[Any], bool], str]] = dataclasses.field(
      default_factory=dict)
  stateful: str = ""


# Fields that several tasks read, declared once.
WINDOW = fields_lib.Field("window", 20, "steps per window")
OVERLAP = fields_lib.Field("overlap", 0.0, "fraction of a window shared with the next "
                           "(0.5 = 50%), in [0, 1)")
WINDOWS_PER_SEQUENCE = fields_lib.Field("windows_per_sequence", 10,
                                        "consecutive windows per training sequence (streams)")
DELAY = fields_lib.Field("delay", 20, "copy: blanks T; delayed_recall: d in y_t = x_(t-d)")
PATH = fields_lib.Field("path", "", "a data file: forecast .csv/.npy, char_lm text")
EVAL_SIZE = fields_lib.Field("eval_size", 512, "evaluation examples (generated tasks; digits: "
                             "val/test size)", fields_lib.at_least(1))
EVAL_ROWS = fields_lib.Field("eval_rows", 16, "evaluation rows of a stream task (each a run "
                             "of windows)", fields_lib.at_least(1))
EVAL_SEED = fields_lib.Field("eval_seed", 0, "evaluation data: the same for every seed")
