"""Character-level language modelling over a text file.

By default the corpus is the text of Python's own documentation topics
(`pydoc_data.topics`, part of the standard library of every CPython
installation): English prose and code, no download. `path` selects another
text file: UTF-8, else read as Latin-1 with a note in the description (a
binary or UTF-16 file is refused). Characters outside printable ASCII map to
one placeholder.

Training reads `windows_per_sequence` consecutive windows of `window`
characters from random places of the training part (chronological split
90/5/5); the target at each step is the next character. Metric: bits per
character.
"""

from __future__ import annotations

import math
import os
import string

import jax.numpy as jnp
import numpy as np

from lstm_init import fields
from lstm_init.errors import ConfigError, require
from lstm_init.training.tasks.base import (EVAL_ROWS, OVERLAP, PATH, WINDOW, WINDOWS_PER_SEQUENCE,
                                           Task, TaskDef, bits_per_char, eval_windows,
                                           one_hot_batch, overlap_stride, window_positions)
from lstm_init.training.tasks.files import read_text

VOCAB = "\x00" + "".join(c for c in string.printable if c not in "\x0b\x0c\r")


def default_corpus() -> str:
  """The documentation topics that ship with CPython's standard library.

  Returns:
    The topics' texts in sorted key order, joined by blank lines.
  """
  from pydoc_data import topics
  return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


def encode(text: str) -> np.ndarray:
  """Character ids in VOCAB; anything else becomes 0.

  Args:
    text: the text; non-ASCII characters are replaced before the lookup.

  Returns:
    [len(text)] int32 ids.
  """
  table = np.zeros(256, np.int32)
  for i, c in enumerate(VOCAB):
    table[ord(c)] = i
  codes = np.frombuffer(text.encode("ascii", "replace"), np.uint8)
  return table[codes]


def make_char_lm(cfg, eval_key) -> Task:
  """The character-level language-modelling task.

  Args:
    cfg: the `config.task` section: path (empty for the default corpus),
      max_chars, window, windows_per_sequence, overlap, eval_rows.
    eval_key: unused; the evaluation sets are the fixed val/test parts.

  Returns:
    The `Task`: one-hot inputs [batch, window, V], next-character targets
    [batch, window], metric bits per character.

  Raises:
    ConfigError: when `path` is not a text file or the corpus is too short.
  """
  del eval_key
  encoding_note = ""
  if cfg.path:
    if not os.path.isfile(str(cfg.path)):
      raise ConfigError(f"task.path {cfg.path!r} is not a file")
    text, encoding_note = read_text(str(cfg.path))
  else:
    text = default_corpus()
  text = text[: int(cfg.max_chars)]
  ids = encode(text)
  window, k = int(cfg.window), int(cfg.windows_per_sequence)
  stride = overlap_stride(window, float(cfg.overlap))
  require(len(ids) > 20 * window, f"the corpus ({len(ids)} characters) is too short for "
                                  f"windows of {window}")
  cut1, cut2 = int(0.9 * len(ids)), int(0.95 * len(ids))
  parts = {"train": ids[:cut1], "val": ids[cut1:cut2], "test": ids[cut2:]}
  vocab = len(VOCAB)
  counts = np.bincount(parts["train"], minlength=vocab) + 1e-9
  probs = counts / counts.sum()
  unigram = float(-(probs * np.log(probs)).sum())

  def train_batch(data, key, step, b):
    pos, reset = window_positions(key, step, data["train"].shape[0], window, stride, k, b,
                                  extra=1)
    seq = data["train"][pos]
    return one_hot_batch(seq[:, :-1], seq[:, 1:], jnp.ones((b, window)), reset, vocab)

  data = {"train": jnp.asarray(parts["train"])}
  for split in ("val", "test"):
    pos, windows = eval_windows(len(parts[split]), window, stride, int(cfg.eval_rows), extra=1)
    seq = jnp.asarray(parts[split])[pos]
    reset = jnp.broadcast_to(jnp.arange(windows)[:, None] == 0, seq.shape[:2])
    data[split] = one_hot_batch(seq[..., :-1], seq[..., 1:], jnp.ones(seq.shape[:-1] + (window,)),
                                reset, vocab)
  return Task(
      name="char_lm", input_size=vocab, output_size=vocab, loss="xent", metric="bpc",
      baseline=math.log(vocab),
      baseline_note=f"a uniform guess over {vocab} characters: log({vocab}) = "
                    f"{math.log(vocab):.3f} nats ({math.log2(vocab):.2f} bpc); the unigram "
                    f"frequencies give {unigram:.3f} nats ({unigram / math.log(2):.2f} bpc)",
      window=window, stride=stride, windows_per_sequence=k, data=data,
      train_batch=train_batch, eval_set=lambda data, split: data[split],
      description=f"character LM on {'the given file' if cfg.path else 'pydoc_data topics'} "
                  f"({len(ids)} chars), windows of {window} (stride {stride}), "
                  f"{k} consecutive windows per sequence" + encoding_note,
      metric_of=bits_per_char)


CHAR_LM = TaskDef("char_lm", make_char_lm, (
    PATH, fields.Field("max_chars", 200_000, "characters of the corpus used",
                       fields.at_least(1)),
    WINDOW, WINDOWS_PER_SEQUENCE, OVERLAP, EVAL_ROWS), stateful="always")
