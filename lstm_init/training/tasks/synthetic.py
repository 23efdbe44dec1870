"""Generated tasks: adding problem, copy memory, delayed recall over a stream.

All draws come from the caller's key; evaluation sets are drawn once from the
evaluation key (`lstm_init.core.keys.eval_key`), so every seed and condition is
scored on the same examples.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lstm_init import fields
from lstm_init.errors import require
from lstm_init.training.tasks.base import (DELAY, EVAL_ROWS, EVAL_SEED, EVAL_SIZE, OVERLAP, WINDOW,
                                           WINDOWS_PER_SEQUENCE, Batch, Task, TaskDef, accuracy,
                                           add_window_axis, eval_windows, one_hot_batch,
                                           overlap_stride, r2_against, window_positions)


def adding_sample(key: jax.Array, n: int, length: int) -> Batch:
  """n adding-problem sequences (Hochreiter and Schmidhuber 1997; Le et al. 2015).

  Each step is (value ~ U[0, 1], marker); exactly two markers, one in each half
  of the sequence. The target, at the last step, is the sum of the two marked
  values.

  Args:
    key: the draw's key.
    n: sequences.
    length: steps per sequence T.

  Returns:
    A `Batch`: xs [n, T, 2], ys [n, T, 1], mask and score [n, T] (last step only).
  """
  kv, k1, k2 = jax.random.split(key, 3)
  values = jax.random.uniform(kv, (n, length))
  first = jax.random.randint(k1, (n,), 0, length // 2)
  second = jax.random.randint(k2, (n,), length // 2, length)
  markers = jax.nn.one_hot(first, length) + jax.nn.one_hot(second, length)
  xs = jnp.stack([values, markers], axis=-1)
  ys = jnp.zeros((n, length, 1)).at[:, -1, 0].set(jnp.sum(values * markers, axis=-1))
  mask = jnp.zeros((n, length)).at[:, -1].set(1.0)
  return Batch(xs, ys, mask, jnp.ones((n,), bool), mask)


def make_adding(cfg, eval_key: jax.Array) -> Task:
  """The adding problem.

  Args:
    cfg: the `config.task` section: length, eval_size.
    eval_key: draws the val and test sets.

  Returns:
    The `Task` (MSE at the last step, metric r2).

  Raises:
    ConfigError: when length < 2.
  """
  length = int(cfg.length)
  require(length >= 2, f"task.length must be >= 2 for the adding problem, got {length}")
  data = {s: add_window_axis(adding_sample(jax.random.fold_in(eval_key, i), int(cfg.eval_size),
                                           length))
          for i, s in enumerate(("val", "test"))}
  return Task(
      name="adding", input_size=2, output_size=1, loss="mse", metric="r2",
      baseline=1.0 / 6.0,
      baseline_note="predicting the constant 1.0 (the mean of the sum) gives MSE "
                    "Var(U1 + U2) = 1/6 = 0.167; r2 = 1 - MSE/baseline",
      window=length, stride=length, windows_per_sequence=1, data=data,
      train_batch=lambda data, key, step, b: adding_sample(jax.random.fold_in(key, step), b,
                                                            length),
      eval_set=lambda data, split: data[split],
      description=f"adding problem, T={length}: sum of the two marked values, MSE at the "
                  "last step",
      metric_of=r2_against(1.0 / 6.0))


COPY_SYMBOLS, COPY_BLANK, COPY_DELIM, COPY_VOCAB, COPY_N = 8, 0, 9, 10, 10


def copy_sample(key: jax.Array, n: int, delay: int) -> Batch:
  """n copy-memory sequences (Arjovsky, Shah and Bengio 2016).

  10 symbols from {1..8}, then delay - 1 blanks, a delimiter, 10 blanks; the
  output must be blank everywhere except the last 10 steps, which reproduce the
  symbols. Length delay + 20. Loss over every step; accuracy over the last 10.

  Args:
    key: the draw's key.
    n: sequences.
    delay: the delay T.

  Returns:
    A `Batch`: one-hot xs [n, T + 20, 10], ys [n, T + 20] int32, mask [n, T + 20]
    ones, score [n, T + 20] on the last 10 steps.
  """
  length = delay + 2 * COPY_N
  symbols = jax.random.randint(key, (n, COPY_N), 1, COPY_SYMBOLS + 1)
  tokens = jnp.full((n, length), COPY_BLANK).at[:, :COPY_N].set(symbols)
  tokens = tokens.at[:, delay + COPY_N - 1].set(COPY_DELIM)
  targets = jnp.full((n, length), COPY_BLANK).at[:, -COPY_N:].set(symbols)
  score = jnp.zeros((n, length)).at[:, -COPY_N:].set(1.0)
  return one_hot_batch(tokens, targets, jnp.ones((n, length)), jnp.ones((n,), bool),
                       COPY_VOCAB, score)


def make_copy(cfg, eval_key: jax.Array) -> Task:
  """The copy-memory task.

  Args:
    cfg: the `config.task` section: delay, eval_size.
    eval_key: draws the val and test sets.

  Returns:
    The `Task` (cross-entropy over every step, accuracy over the recall steps).

  Raises:
    ConfigError: when delay < 1.
  """
  delay = int(cfg.delay)
  require(delay >= 1, f"task.delay must be >= 1 for the copy task, got {delay}")
  data = {s: add_window_axis(copy_sample(jax.random.fold_in(eval_key, i), int(cfg.eval_size),
                                         delay))
          for i, s in enumerate(("val", "test"))}
  length = delay + 2 * COPY_N
  return Task(
      name="copy", input_size=COPY_VOCAB, output_size=COPY_VOCAB, loss="xent",
      metric="accuracy", baseline=COPY_N * math.log(COPY_SYMBOLS) / length,
      baseline_note="memoryless: blanks everywhere and a uniform guess over the 8 "
                    "symbols at the 10 recall steps, 10 log(8) / (T + 20) per step; "
                    "accuracy is over the 10 recall steps (chance 1/8)",
      window=length, stride=length, windows_per_sequence=1, data=data,
      train_batch=lambda data, key, step, b: copy_sample(jax.random.fold_in(key, step), b,
                                                         delay),
      eval_set=lambda data, split: data[split],
      description=f"copy memory, delay T={delay}: reproduce 10 symbols after T steps",
      metric_of=accuracy)


def recall_stream(key: jax.Array, rows: int, length: int, delay: int, symbols: int):
  """Symbol streams and their delayed targets y_t = x_{t-d} (masked for t < d).

  Args:
    key: the draw's key.
    rows: streams.
    length: steps per stream.
    delay: d.
    symbols: vocabulary size.

  Returns:
    (tokens [rows, length] ints, targets [rows, length], valid [rows, length] bool).
  """
  tokens = jax.random.randint(key, (rows, length), 0, symbols)
  targets = jnp.roll(tokens, delay, axis=1)
  valid = jnp.arange(length)[None, :] >= delay
  return tokens, targets, jnp.broadcast_to(valid, (rows, length))


def make_delayed_recall(cfg, eval_key: jax.Array) -> Task:
  """Delayed recall over a long stream: y_t = x_{t-d}, cut into windows.

  Each training sequence is `windows_per_sequence` consecutive windows of
  `window` steps (stride from `overlap`). With the delay crossing window
  boundaries (delay > 0), the first `delay` positions of every window after
  the first need the previous window: a stateless LSTM cannot know them, a
  stateful one can.

  Args:
    cfg: the `config.task` section: window, delay, windows_per_sequence,
      symbols, overlap, eval_rows.
    eval_key: draws the val and test streams.

  Returns:
    The `Task` (one-hot inputs [batch, window, symbols], metric accuracy).

  Raises:
    ConfigError: for a window or windows_per_sequence below 1, a negative
      delay or fewer than 2 symbols.
  """
  window, delay, k = int(cfg.window), int(cfg.delay), int(cfg.windows_per_sequence)
  symbols = int(cfg.symbols)
  require(window >= 1 and k >= 1, f"task.window and task.windows_per_sequence must be "
                                  f">= 1, got {window} and {k}")
  require(0 <= delay, f"task.delay must be >= 0, got {delay}")
  require(symbols >= 2, f"task.symbols must be >= 2, got {symbols}")
  stride = overlap_stride(window, float(cfg.overlap))
  length = (k - 1) * stride + window

  def train_batch(data, key, step, b):
    pos, reset = window_positions(key, step, length, window, stride, k, b)
    # One fresh stream per epoch, the same for every window of that epoch.
    tokens, targets, valid = recall_stream(jax.random.fold_in(key, step // k + 1_000_003), b,
                                           length, delay, symbols)
    take = lambda a: jnp.take_along_axis(a, pos, axis=1)
    return one_hot_batch(take(tokens), take(targets), take(valid), reset, symbols)

  def make_eval(i):
    rows = int(cfg.eval_rows)
    tokens, targets, valid = recall_stream(jax.random.fold_in(eval_key, i), rows, length,
                                           delay, symbols)
    pos, windows = eval_windows(length * rows, window, stride, rows)
    flat = lambda a: a.reshape(-1)[pos]
    return one_hot_batch(flat(tokens), flat(targets), flat(valid),
                         jnp.broadcast_to(jnp.arange(windows)[:, None] == 0, (windows, rows)),
                         symbols)

  data = {"val": make_eval(0), "test": make_eval(1)}
  return Task(
      name="delayed_recall", input_size=symbols, output_size=symbols, loss="xent",
      metric="accuracy", baseline=math.log(symbols),
      baseline_note=f"symbols are i.i.d. uniform: any memoryless guess scores log({symbols})"
                    f" = {math.log(symbols):.3f} nats; chance accuracy 1/{symbols}",
      window=window, stride=stride, windows_per_sequence=k, data=data,
      train_batch=train_batch, eval_set=lambda data, split: data[split],
      description=f"delayed recall y_t = x_(t-{delay}) over streams of {k} windows of "
                  f"{window} steps (stride {stride})",
      metric_of=accuracy, early_positions=max(1, min(delay, window - 1)))


LENGTH = fields.Field("length", 50, "adding: sequence length T")
SYMBOLS = fields.Field("symbols", 8, "delayed_recall: alphabet size")

ADDING = TaskDef("adding", make_adding, (LENGTH, EVAL_SIZE, EVAL_SEED))
COPY = TaskDef("copy", make_copy, (DELAY, EVAL_SIZE, EVAL_SEED))
DELAYED_RECALL = TaskDef("delayed_recall", make_delayed_recall,
                         (WINDOW, DELAY, WINDOWS_PER_SEQUENCE, SYMBOLS, OVERLAP, EVAL_ROWS,
                          EVAL_SEED), stateful="always")
