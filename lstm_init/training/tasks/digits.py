"""Sequential and permuted pixel classification on scikit-learn's 8x8 digits.

Real data that ships with scikit-learn (1797 images, 10 classes): no download.
`mode="pixel"` feeds one pixel per step (64 steps of 1 feature), `mode="row"`
one row per step (8 steps of 8). `permuted=True` applies one fixed pixel
permutation (from `permutation_seed`) to every image before it is cut into
steps. The split into train/val/test is fixed by `split_seed`, the same for
every seed of a sweep.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from lstm_init import fields
from lstm_init.errors import ConfigError, require
from lstm_init.training.tasks.base import (EVAL_SIZE, Batch, Task, TaskDef, accuracy,
                                           add_window_axis, epoch_indices)

MODES = ("pixel", "row")


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
  """Images [1797, 64] scaled to [0, 1] and labels [1797].

  Returns:
    (images [1797, 64] float32, labels [1797] int32).
  """
  from sklearn.datasets import load_digits
  d = load_digits()
  return (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)


def make_digits(cfg, eval_key) -> Task:
  """The sequential (optionally permuted) digits classification task.

  Args:
    cfg: the `config.task` section: mode, permuted, permutation_seed,
      split_seed, eval_size.
    eval_key: unused; the evaluation sets are the fixed val/test splits.

  Returns:
    The `Task`: xs [batch, steps, features] ((64, 1) or (8, 8)), the label as
    the target of the last step only, metric accuracy.

  Raises:
    ConfigError: for an unknown mode or an eval_size leaving no training images.
  """
  del eval_key  # the evaluation sets are the fixed val/test splits
  mode = str(cfg.mode)
  if mode not in MODES:
    raise ConfigError(f"unknown digits mode {mode!r}; valid choices: {', '.join(MODES)}")
  images, labels = load_digits_arrays()
  if cfg.permuted:
    images = images[:, np.random.default_rng(int(cfg.permutation_seed)).permutation(64)]
  steps, feats = (64, 1) if mode == "pixel" else (8, 8)
  xs = images.reshape(-1, steps, feats)
  order = np.random.default_rng(int(cfg.split_seed)).permutation(len(xs))
  n_eval = int(cfg.eval_size)
  require(0 < 2 * n_eval < len(xs), f"task.eval_size {n_eval} leaves no training images")
  split = {"test": order[:n_eval], "val": order[n_eval:2 * n_eval], "train": order[2 * n_eval:]}

  def batch_of(x, y):
    n = x.shape[0]
    ys = jnp.zeros((n, steps), jnp.int32).at[:, -1].set(y)
    mask = jnp.zeros((n, steps)).at[:, -1].set(1.0)
    return Batch(jnp.asarray(x), ys, mask, jnp.ones((n,), bool), mask)

  data = {"train_x": jnp.asarray(xs[split["train"]]), "train_y": jnp.asarray(labels[split["train"]])}
  for s in ("val", "test"):
    data[s] = add_window_axis(batch_of(xs[split[s]], labels[split[s]]))
  n_train = len(split["train"])

  def train_batch(data, key, step, b):
    idx = epoch_indices(key, step, n_train, b)
    return batch_of(data["train_x"][idx], data["train_y"][idx])

  kind = ("permuted " if cfg.permuted else "") + f"{mode}-by-{mode}"
  return Task(
      name="digits", input_size=feats, output_size=10, loss="xent", metric="accuracy",
      baseline=math.log(10.0),
      baseline_note="a uniform guess over 10 classes: log(10) = 2.303 nats, accuracy 0.1",
      window=steps, stride=steps, windows_per_sequence=1, data=data,
      train_batch=train_batch, eval_set=lambda data, split: data[split],
      description=f"sequential {kind} 8x8 digits ({steps} steps), "
                  f"{n_train} train / {n_eval} val / {n_eval} test images",
      metric_of=accuracy)


DIGITS = TaskDef("digits", make_digits, (
    fields.Field("mode", "row", "\"pixel\" (64 steps) or \"row\" (8 steps)", choices=MODES),
    fields.Field("permuted", False, "one fixed pixel permutation"),
    fields.Field("permutation_seed", 0, "which permutation"),
    fields.Field("split_seed", 0, "which train/val/test split"),
    EVAL_SIZE), used_when={"permutation_seed": (lambda t: bool(t.permuted), "task.permuted=True")})
