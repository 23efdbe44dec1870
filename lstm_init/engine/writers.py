"""Metric writers, in the spirit of CLU's `MetricWriter`: one interface, several files.

  writer = JsonlWriter("runs/x/metrics.jsonl")        # today's metrics.jsonl
  writer = TensorBoardWriter("runs/x/tensorboard/preset=keras")   # tensorboardX
  writer.write_scalars(step, {"eval_loss/median": 0.01})
  writer.close()

`write_curves` writes a finished sweep's learning curves to TensorBoard: one
run folder per condition (so TensorBoard overlays the conditions), the
quantiles over seeds of each curve at every validation step, and the final
metrics' medians at the last step. TensorBoard files come from tensorboardX,
which needs no TensorFlow (`pip install 'lstm_init[tensorboard]'`).
"""

from __future__ import annotations

import abc
import os
import re
from typing import Any, Callable, Mapping

import numpy as np

from lstm_init import records
from lstm_init.errors import ConfigError

# The quantiles over seeds written for every curve, and their tags.
QUANTILES = {"q10": 0.1, "q25": 0.25, "median": 0.5, "q75": 0.75, "q90": 0.9}
CURVES = ("train_loss", "eval_loss", "eval_metric")
FINALS = ("final_eval_loss", "final_eval_metric", "final_test_loss", "final_test_metric")
CHOICES = ("jsonl", "tensorboard")


class MetricWriter(abc.ABC):
  """Where the loop's numbers go."""

  @abc.abstractmethod
  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Named scalars at one step."""

  def write_record(self, record: Mapping[str, Any]) -> None:
    """A structured record (per-run lists); writers without one write nothing."""

  def flush(self) -> None:
    """Makes what was written readable now."""

  def close(self) -> None:
    """Flushes and releases the file."""
    self.flush()


class JsonlWriter(MetricWriter):
  """JSON lines, one per call, appended and flushed (a crash loses at most one)."""

  def __init__(self, path: str):
    self.path = path

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """One line: {"step": step, **scalars}."""
    records.append_jsonl(self.path, {"step": int(step), **scalars})

  def write_record(self, record: Mapping[str, Any]) -> None:
    """One line holding `record` (arrays as lists)."""
    records.append_jsonl(self.path, record)


def require_tensorboard():
  """tensorboardX's `SummaryWriter`, or one line saying how to install it."""
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError("writers=tensorboard needs tensorboardX, which is not installed; valid "
                      "choices: pip install 'lstm_init[tensorboard]', or "
                      "--config.writers=jsonl") from None
  return SummaryWriter


class TensorBoardWriter(MetricWriter):
  """TensorBoard event files in `logdir` (tensorboardX; no TensorFlow)."""

  def __init__(self, logdir: str):
    SummaryWriter = require_tensorboard()  # pylint: disable=invalid-name
    self.logdir = logdir
    self._writer = SummaryWriter(logdir=logdir, flush_secs=3600)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """One scalar event per tag at `step`."""
    for tag, value in scalars.items():
      self._writer.add_scalar(tag, float(value), int(step))

  def flush(self) -> None:
    """Writes the pending events to the event file."""
    self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the event file."""
    self._writer.close()


def parse_writers(text: str) -> tuple[str, ...]:
  """`config.writers` ("jsonl", "jsonl,tensorboard") as a tuple; one line if unknown."""
  names = tuple(n.strip() for n in str(text).split(",") if n.strip())
  bad = [n for n in names if n not in CHOICES]
  if bad or "jsonl" not in names:
    raise ConfigError(f"writers={text!r}: {'unknown writer ' + repr(bad[0]) if bad else 'jsonl'}"
                      f"{'' if bad else ' is always written'}; valid choices: jsonl, "
                      "jsonl,tensorboard")
  return names


def folder_name(condition: str) -> str:
  """A condition's name as one folder name (no separators)."""
  return re.sub(r"[^A-Za-z0-9=.,_+-]", "_", condition) or "_"


def curve_scalars(curves: Mapping[str, np.ndarray], ci: int, e: int) -> dict[str, float]:
  """The quantiles over condition ci's seeds of each curve at validation e
  (seeds whose value is not finite left out; a curve with none left out)."""
  out = {}
  for name in CURVES:
    x = curves[name][ci, :, e]
    x = x[np.isfinite(x)]
    if x.size:
      out.update({f"{name}/{tag}": float(np.quantile(x, q)) for tag, q in QUANTILES.items()})
  return out


def write_curves(curves: Mapping[str, np.ndarray], rows: list[dict], out_dir: str,
                 make_writer: Callable[[str], MetricWriter] = TensorBoardWriter) -> list[str]:
  """Each condition's learning-curve quantiles and final medians, one folder each.

  Args:
    curves: `curves.npz` arrays (`conditions`, `steps` [condition, eval], and
      `train_loss`, `eval_loss`, `eval_metric` [condition, seed, eval]).
    rows: `results.csv` rows (for the final metrics of non-diverged seeds).
    out_dir: the folder that holds one folder per condition.
    make_writer: a writer for a folder.

  Returns:
    The folders written, in the conditions' order.
  """
  folders = []
  for ci, name in enumerate(str(n) for n in curves["conditions"]):
    folder = os.path.join(out_dir, folder_name(name))
    writer = make_writer(folder)
    steps = curves["steps"][ci]
    last = 0
    for e, step in enumerate(steps):
      if step < 0:
        continue
      writer.write_scalars(int(step), curve_scalars(curves, ci, e))
      last = int(step)
    ok = [r for r in rows if r["condition"] == name and not r["diverged"]]
    finals = {f"{col}/median": float(np.median([r[col] for r in ok])) for col in FINALS} if ok else {}
    writer.write_scalars(last, {**finals, "diverged": float(
        sum(r["diverged"] for r in rows if r["condition"] == name))})
    writer.close()
    folders.append(folder)
  return folders
