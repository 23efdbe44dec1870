"""Metric writers, in the spirit of CLU's: one interface, a registry, a MultiWriter.

  writer = make_writers(("jsonl", "tensorboard"), workdir)   # a MultiWriter
  writer.write_record(piece)        # after every piece of the host loop (live)
  writer.write_scalars(step, {"eval_loss/median": 0.01})
  writer.close()

`WRITERS` maps a name (`config.writers`, comma-separated) to a factory
`(workdir) -> MetricWriter`; a new writer is one class and one entry.
"jsonl" appends each piece's per-run numbers to `metrics.jsonl`;
"tensorboard" writes, per condition (one run folder each, so TensorBoard
overlays them), the quantiles over its runs of each learning curve at every
validation as the sweep trains, and the final metrics' medians at the end
(tensorboardX: no TensorFlow needed, `pip install 'lstm_init[tensorboard]'`).
A condition whose runs train in several chunks has its curves written once
they are all trained (a quantile over some of its runs would be another
number), with the finals.
"""

from __future__ import annotations

import abc
import os
import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lstm_init import records
from lstm_init.errors import ConfigError

# The quantiles over seeds written for every curve, and their tags.
QUANTILES = {"q10": 0.1, "q25": 0.25, "median": 0.5, "q75": 0.75, "q90": 0.9}
CURVES = ("train_loss", "eval_loss", "eval_metric")
FINALS = ("final_eval_loss", "final_eval_metric", "final_test_loss", "final_test_metric")


class MetricWriter(abc.ABC):
  """Where the loop's numbers go."""

  @abc.abstractmethod
  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Named scalars at one step."""

  def write_record(self, record: Mapping[str, Any]) -> None:
    """One piece's record: "step", "conditions" [runs], [runs] lists of the
    piece's last validation, and "curves": {"steps": [evals], name: [runs, evals],
    "complete": the conditions all of whose runs are in this chunk}."""

  def write_finals(self, rows: Sequence[Mapping[str, Any]], curves: Mapping[str, np.ndarray],
                   late: Sequence[str] = ()) -> None:
    """The finished sweep: its results rows, its curves.npz arrays, and the
    conditions whose curves no piece could show whole (trained in several chunks)."""

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
    """One line holding the record (without its curves; arrays as lists)."""
    records.append_jsonl(self.path, {k: v for k, v in record.items() if k != "curves"})


def require_tensorboard():
  """tensorboardX's `SummaryWriter`, or one line saying how to install it."""
  try:
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError("writers=tensorboard needs tensorboardX, which is not installed; valid "
                      "choices: pip install 'lstm_init[tensorboard]', or "
                      "--config.writers=jsonl") from None
  return SummaryWriter


def folder_name(condition: str) -> str:
  """A condition's name as one folder name (no separators)."""
  return re.sub(r"[^A-Za-z0-9=.,_+-]", "_", condition) or "_"


def quantile_scalars(values: Mapping[str, np.ndarray]) -> dict[str, float]:
  """The `QUANTILES` of each named [runs] array (runs whose value is not finite
  left out; an array with none left out)."""
  out = {}
  for name, x in values.items():
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size:
      out.update({f"{name}/{tag}": float(np.quantile(x, q)) for tag, q in QUANTILES.items()})
  return out


class TensorBoardWriter(MetricWriter):
  """TensorBoard event files, one folder per condition under `logdir`."""

  def __init__(self, logdir: str, suffix: str = ""):
    self.SummaryWriter = require_tensorboard()  # pylint: disable=invalid-name
    self.logdir, self.suffix = logdir, suffix
    self._writers: dict[str, Any] = {}

  def _of(self, condition: str):
    if condition not in self._writers:  # a file of its own (tensorboardX names them by second)
      self._writers[condition] = self.SummaryWriter(
          logdir=os.path.join(self.logdir, folder_name(condition)), flush_secs=3600,
          filename_suffix=self.suffix)
    return self._writers[condition]

  def _scalars(self, condition: str, step: int, scalars: Mapping[str, float]) -> None:
    for tag, value in scalars.items():
      self._of(condition).add_scalar(tag, float(value), int(step))

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Scalars of the whole sweep, in the folder `_sweep`."""
    self._scalars("_sweep", step, scalars)

  def write_record(self, record: Mapping[str, Any]) -> None:
    """Each condition's curve quantiles at every validation of the piece (the
    conditions with all their runs in the chunk)."""
    curves = record.get("curves", {})
    names = np.asarray(record["conditions"])
    complete = curves.get("complete", record["conditions"])
    for condition in dict.fromkeys(record["conditions"]):
      if condition not in complete:
        continue
      rows = names == condition
      for e, step in enumerate(curves.get("steps", ())):
        self._scalars(condition, step, quantile_scalars(
            {name: np.asarray(curves[name])[rows, e] for name in CURVES if name in curves}))

  def write_finals(self, rows: Sequence[Mapping[str, Any]], curves: Mapping[str, np.ndarray],
                   late: Sequence[str] = ()) -> None:
    """The curves of the `late` conditions (trained in several chunks); then per
    condition, at its last step, the final metrics' medians over the runs that
    did not diverge, and how many diverged."""
    for ci, condition in enumerate(str(n) for n in curves["conditions"]):
      steps = [int(s) for s in curves["steps"][ci] if s >= 0]
      if condition in late:
        for e, step in enumerate(steps):
          self._scalars(condition, step, quantile_scalars(
              {name: curves[name][ci][:, e] for name in CURVES}))
      mine = [r for r in rows if r["condition"] == condition]
      ok = [r for r in mine if not r["diverged"]]
      finals = ({f"{col}/median": float(np.median([r[col] for r in ok])) for col in FINALS}
                if ok else {})
      self._scalars(condition, steps[-1] if steps else 0,
                    {**finals, "diverged": float(sum(r["diverged"] for r in mine))})

  def flush(self) -> None:
    """Writes the pending events to the event files."""
    for w in self._writers.values():
      w.flush()

  def close(self) -> None:
    """Flushes and closes the event files."""
    for w in self._writers.values():
      w.close()


class MultiWriter(MetricWriter):
  """Several writers as one: every call goes to each, in order."""

  def __init__(self, writers: Sequence[MetricWriter]):
    self.writers = list(writers)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """To every writer."""
    for w in self.writers:
      w.write_scalars(step, scalars)

  def write_record(self, record: Mapping[str, Any]) -> None:
    """To every writer."""
    for w in self.writers:
      w.write_record(record)

  def write_finals(self, rows: Sequence[Mapping[str, Any]], curves: Mapping[str, np.ndarray],
                   late: Sequence[str] = ()) -> None:
    """To every writer."""
    for w in self.writers:
      w.write_finals(rows, curves, late)

  def flush(self) -> None:
    """Every writer's."""
    for w in self.writers:
      w.flush()

  def close(self) -> None:
    """Every writer's."""
    for w in self.writers:
      w.close()


# name -> (workdir, file suffix -> writer). metrics.jsonl is always written.
WRITERS: dict[str, Callable[[str, str], MetricWriter]] = {
    "jsonl": lambda workdir, suffix="": JsonlWriter(os.path.join(workdir, "metrics.jsonl")),
    "tensorboard": lambda workdir, suffix="": TensorBoardWriter(
        os.path.join(workdir, "tensorboard"), suffix),
}


def check_writers(names: Sequence[str]) -> tuple[str, ...]:
  """The writer names, checked: known, and "jsonl" among them; one line otherwise.

  Args:
    names: `Settings.writers`.

  Returns:
    The names.

  Raises:
    ConfigError: for an unknown name or a list without jsonl; for tensorboard
      without tensorboardX installed.
  """
  text = ",".join(names)
  bad = [n for n in names if n not in WRITERS]
  if bad or "jsonl" not in names:
    raise ConfigError(f"writers={text!r}: {'unknown writer ' + repr(bad[0]) if bad else 'jsonl'}"
                      f"{'' if bad else ' is always written'}; valid choices: "
                      f"{', '.join(WRITERS)} (comma-separated, jsonl among them)")
  if "tensorboard" in names:
    require_tensorboard()
  return tuple(names)


def make_writers(names: Sequence[str], workdir: str) -> MetricWriter:
  """The writers `names` as one `MultiWriter` writing into `workdir`."""
  return MultiWriter([WRITERS[n](workdir) for n in check_writers(names)])
