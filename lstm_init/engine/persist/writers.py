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
When a condition's seeds train in several chunks, the live quantiles at a
step are those of the chunk that reached it last.
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
    piece's last validation, and "curves": {"steps": [evals], name: [runs, evals]}."""

  def write_finals(self, rows: Sequence[Mapping[str, Any]], steps: Mapping[str, int]) -> None:
    """The finished sweep's results rows, and each condition's last step."""

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

  def __init__(self, logdir: str):
    self.SummaryWriter = require_tensorboard()  # pylint: disable=invalid-name
    self.logdir = logdir
    self._writers: dict[str, Any] = {}

  def _of(self, condition: str):
    if condition not in self._writers:
      self._writers[condition] = self.SummaryWriter(
          logdir=os.path.join(self.logdir, folder_name(condition)), flush_secs=3600)
    return self._writers[condition]

  def _scalars(self, condition: str, step: int, scalars: Mapping[str, float]) -> None:
    for tag, value in scalars.items():
      self._of(condition).add_scalar(tag, float(value), int(step))

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Scalars of the whole sweep, in the folder `_sweep`."""
    self._scalars("_sweep", step, scalars)

  def write_record(self, record: Mapping[str, Any]) -> None:
    """Each condition's curve quantiles at every validation of the piece."""
    curves = record.get("curves", {})
    names = np.asarray(record["conditions"])
    for condition in dict.fromkeys(record["conditions"]):
      rows = names == condition
      for e, step in enumerate(curves.get("steps", ())):
        self._scalars(condition, step, quantile_scalars(
            {name: np.asarray(curves[name])[rows, e] for name in CURVES if name in curves}))

  def write_finals(self, rows: Sequence[Mapping[str, Any]], steps: Mapping[str, int]) -> None:
    """Per condition, at its last step: the final metrics' medians over the
    runs that did not diverge, and how many diverged."""
    for condition, step in steps.items():
      mine = [r for r in rows if r["condition"] == condition]
      ok = [r for r in mine if not r["diverged"]]
      finals = ({f"{col}/median": float(np.median([r[col] for r in ok])) for col in FINALS}
                if ok else {})
      self._scalars(condition, step, {**finals, "diverged": float(sum(r["diverged"]
                                                                      for r in mine))})

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

  def write_finals(self, rows: Sequence[Mapping[str, Any]], steps: Mapping[str, int]) -> None:
    """To every writer."""
    for w in self.writers:
      w.write_finals(rows, steps)

  def flush(self) -> None:
    """Every writer's."""
    for w in self.writers:
      w.flush()

  def close(self) -> None:
    """Every writer's."""
    for w in self.writers:
      w.close()


# name -> (workdir -> writer). metrics.jsonl is always written.
WRITERS: dict[str, Callable[[str], MetricWriter]] = {
    "jsonl": lambda workdir: JsonlWriter(os.path.join(workdir, "metrics.jsonl")),
    "tensorboard": lambda workdir: TensorBoardWriter(os.path.join(workdir, "tensorboard")),
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


def write_curves(curves: Mapping[str, np.ndarray], rows: list[dict], out_dir: str,
                 make_writer: Callable[[str], MetricWriter] | None = None) -> list[str]:
  """A finished sweep's learning-curve quantiles and final medians, from its
  curves.npz arrays (a workdir written without the tensorboard writer).

  Args:
    curves: `curves.npz` arrays (`conditions`, `steps` [condition, eval], and
      `train_loss`, `eval_loss`, `eval_metric` [condition, seed, eval]).
    rows: `results.csv` rows (for the final metrics of non-diverged seeds).
    out_dir: the folder that holds one folder per condition.
    make_writer: a writer of that folder (default a `TensorBoardWriter`).

  Returns:
    The folders written, in the conditions' order.
  """
  writer = (make_writer or TensorBoardWriter)(out_dir)
  names = [str(n) for n in curves["conditions"]]
  last = {}
  for ci, name in enumerate(names):
    steps = [int(s) for s in curves["steps"][ci] if s >= 0]
    writer.write_record({"conditions": [name] * curves["eval_loss"].shape[1], "curves": {
        "steps": steps, **{c: curves[c][ci][:, :len(steps)] for c in CURVES}}})
    last[name] = steps[-1] if steps else 0
  writer.write_finals(rows, last)
  writer.close()
  return [os.path.join(out_dir, folder_name(n)) for n in names]
