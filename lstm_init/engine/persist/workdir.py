"""A sweep's workdir: the one place that writes its files.

  wd = Workdir("runs/x")
  with wd.locked(log):                          # one live process writes a workdir
    wd.prepare(record, overwrite, log)          # refuse another sweep's folder, or move it aside
    wd.write_config(record); wd.write_environment(env)
    ... wd.save_checkpoint(payload) ... wd.metric_writers(("jsonl",)) ...
    wd.write_results(rows, columns, curves, summary)

Every file is written atomically (temp file + rename, `lstm_init.records`);
a file system error (no space, read-only, permission, a name too long) is one
line naming the path and the cause, and the file's previous version stays.
`--overwrite` moves the previous sweep's records into `previous-<time>/`
inside the workdir before anything new is written, so a workdir never holds
two sweeps' records side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from lstm_init import records
from lstm_init.engine.persist import record as record_lib
from lstm_init.engine.persist import writers as writers_lib
from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.errors import ConfigError

CONFIG, ENVIRONMENT = "config.json", "environment.json"
RESULTS, CURVES, SUMMARY, PARTIAL = ("results.csv", "curves.npz", "summary.json",
                                     "results.partial.csv")
CHECKPOINT, METRICS, LOCK = "checkpoint.msgpack", "metrics.jsonl", ".lock"
TENSORBOARD = "tensorboard"
# What a sweep leaves; `--overwrite` moves these aside.
RECORDS = (CONFIG, ENVIRONMENT, RESULTS, CURVES, SUMMARY, PARTIAL, CHECKPOINT, METRICS,
           "report.md", "report.html", "figures", "tensorboard")


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
  """Turns a file system error while writing `path` into one line (ConfigError)."""
  try:
    yield
  except OSError as e:
    raise ConfigError(f"cannot write {path}: {e.strerror or e} (errno {e.errno}); the previous "
                      "version of the file is intact; free space or choose a writable "
                      "--workdir, then run the same command again") from None


class Workdir:
  """A sweep's folder and every file the sweep writes into it.

  Args:
    path: the folder.
  """

  def __init__(self, path: str):
    self.path = path

  def file(self, name: str) -> str:
    """The path of one of the workdir's files."""
    return os.path.join(self.path, name)

  def exists(self, name: str) -> bool:
    """Whether the workdir holds `name`."""
    return os.path.exists(self.file(name))

  # -- before anything runs ---------------------------------------------------

  def check(self) -> None:
    """Refuses a path that is a file, not a folder."""
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise ConfigError(f"--workdir {self.path!r} is a file, not a folder; choose another "
                        "--workdir")

  def recorded(self) -> dict[str, Any] | None:
    """The config.json record there, None if there is none (one line if it is damaged)."""
    path = self.file(CONFIG)
    if not os.path.exists(path):
      return None
    try:
      with open(path) as f:
        return json.load(f)
    except (OSError, ValueError) as e:
      raise ConfigError(f"{path} is damaged ({type(e).__name__}: {e}); it cannot say which "
                        "sweep the folder holds; pass --overwrite to move its records aside, or "
                        "choose another --workdir") from None

  def prepare(self, record: dict[str, Any], overwrite: bool,
              log: Callable[[str], None] = print) -> None:
    """Creates the workdir; refuses one that holds another sweep's records.

    The same config in the same workdir resumes (or rewrites finished outputs).
    With `overwrite` a previous sweep's records are moved into
    `previous-<time>/` first.

    Args:
      record: this sweep's `config_record`.
      overwrite: move another sweep's records aside instead of refusing.
      log: where the line about moved records goes.

    Raises:
      ConfigError: for a path that is a file, or another config's records
        without `overwrite` (naming the first fields that differ).
    """
    self.check()
    if overwrite:
      present = [n for n in RECORDS if self.exists(n)]
      if present:
        aside = self.file(time.strftime("previous-%Y%m%d-%H%M%S"))
        with writing(aside):
          os.makedirs(aside, exist_ok=False)
          for name in present:
            os.replace(self.file(name), os.path.join(aside, name))
        log(f"--overwrite: the previous records ({', '.join(present)}) moved to {aside}")
    else:
      old = self.recorded()
      if old is not None:
        a, b = record_lib.comparable(old), record_lib.comparable(record)
        if a != b:
          diff = "; ".join(record_lib.differences(a, b))
          raise ConfigError(f"workdir {self.path!r} holds results of a different config "
                            f"({diff}); choose another --workdir or pass --overwrite")
    with writing(self.path):
      os.makedirs(self.path, exist_ok=True)

  # -- records ----------------------------------------------------------------

  def write_json(self, name: str, obj: Any) -> None:
    """One JSON file of the workdir (strict JSON: NaN as null)."""
    with writing(self.file(name)):
      records.write_json(self.file(name), obj)

  def write_config(self, record: dict[str, Any]) -> None:
    """config.json: exactly what runs (`persist.record.config_record`)."""
    self.write_json(CONFIG, record)

  def write_environment(self, env: dict[str, Any]) -> None:
    """environment.json: what decided the bits, and where the time went."""
    self.write_json(ENVIRONMENT, env)

  def write_results(self, rows: Sequence[Mapping[str, Any]], columns: list[str],
                    curves: Mapping[str, np.ndarray], summary: dict[str, Any]) -> None:
    """results.csv, curves.npz and summary.json (and drops a partial table)."""
    with writing(self.file(RESULTS)):
      records.write_csv(self.file(RESULTS), rows, columns)
    with writing(self.file(CURVES)):
      records.write_npz(self.file(CURVES), **curves)
    self.write_json(SUMMARY, summary)
    if self.exists(PARTIAL):
      os.remove(self.file(PARTIAL))

  def write_partial(self, rows: Sequence[Mapping[str, Any]]) -> str:
    """results.partial.csv (condition, seed, last_eval_loss); returns its path."""
    with writing(self.file(PARTIAL)):
      records.write_csv(self.file(PARTIAL), rows, ["condition", "seed", "last_eval_loss"])
    return self.file(PARTIAL)

  def save_checkpoint(self, payload: bytes) -> None:
    """checkpoint.msgpack, atomically: the previous one stays until this one is whole."""
    with writing(self.file(CHECKPOINT)):
      records.atomic_write_bytes(self.file(CHECKPOINT), payload)

  def clear_metrics(self) -> None:
    """Removes metrics.jsonl and the TensorBoard folder (a sweep that starts afresh)."""
    if self.exists(METRICS):
      os.remove(self.file(METRICS))
    if self.exists(TENSORBOARD):
      shutil.rmtree(self.file(TENSORBOARD))

  def metric_writers(self, names: Sequence[str]) -> writers_lib.MetricWriter:
    """The metric writers `names` (`writers.WRITERS`), writing into this workdir."""
    return writers_lib.make_writers(names, self.path)

  def write_finals(self, names: Sequence[str], rows: Sequence[Mapping[str, Any]],
                   curves: Mapping[str, np.ndarray], late: Sequence[str]) -> None:
    """The finished sweep's final metrics (and the curves no piece showed whole),
    through each metric writer that keeps them, in files of their own."""
    writer = writers_lib.MultiWriter([writers_lib.WRITERS[n](self.path, ".finals")
                                      for n in names])
    with writing(self.path):
      writer.write_finals(rows, curves, late)
      writer.close()

  # -- one live writer --------------------------------------------------------

  @contextlib.contextmanager
  def locked(self, log: Callable[[str], None]):
    """Holds `.lock` (this process's PID and host) while a sweep writes here.

    A second live process on the same workdir is refused with one line; a lock
    left by a process that is no longer running (on this host), or one that
    cannot be read (a full disk left it empty), is taken over, and the log
    says so. The lock goes when the sweep ends, however it ends.

    Args:
      log: where the takeover line goes.

    Yields:
      Nothing; the lock is held while the block runs.

    Raises:
      ConfigError: when the workdir is a file, or a live process holds the lock.
    """
    self.check()
    with writing(self.path):
      os.makedirs(self.path, exist_ok=True)
    path = self.file(LOCK)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
      try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        self._refuse_or_take_over(path, me, log)
        continue
      except OSError as e:
        with writing(path):
          raise e
      with writing(path), os.fdopen(fd, "w") as f:
        json.dump(me, f)
      break
    else:
      raise ConfigError(f"workdir lock {path} keeps coming back (another process is taking "
                        "it over at the same time); wait for it, or choose another --workdir")
    try:
      yield
    finally:
      try:
        with open(path) as f:
          if json.load(f).get("pid") == me["pid"]:
            os.remove(path)
      except (OSError, ValueError):
        pass

  def _refuse_or_take_over(self, path: str, me: dict[str, Any], log) -> None:
    try:
      with open(path) as f:
        owner = json.load(f)
      if not isinstance(owner, dict):
        raise ValueError("not a lock record")
    except (OSError, ValueError):
      log(f"workdir lock {path} cannot be read (empty or damaged, e.g. left by a full disk); "
          "treating it as stale and taking it over")
      os.remove(path)
      return
    pid, host = int(owner.get("pid", -1)), owner.get("host", "?")
    if host == me["host"] and pid > 0 and not _alive(pid):
      log(f"workdir lock: process {pid} on {host} (since {owner.get('since')}) is no longer "
          "running; taking its lock over")
      os.remove(path)
      return
    where = "this host" if host == me["host"] else f"host {host}"
    raise ConfigError(f"workdir {self.path!r} is being written by process {pid} on {where} "
                      f"(since {owner.get('since')}, {path}); wait for it to finish, or "
                      "choose another --workdir" + ("" if host == me["host"] else
                      f" (if that process is gone, remove {path})"))


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's live process
    return True
  return True


def partial_rows(plan: SweepPlan, state) -> list[dict[str, Any]]:
  """The latest validation of every run trained so far (`state`: the loop's
  `SweepState` at an interruption), as results.partial.csv's rows.

  Args:
    plan: the sweep's plan.
    state: the loop's `SweepState`.

  Returns:
    Rows {"condition", "seed", "last_eval_loss"}.
  """
  rows = []

  def add(ci, seed, curve):
    finite = curve[np.isfinite(curve)]
    if finite.size:
      rows.append({"condition": plan.conditions[int(ci)].name, "seed": int(seed),
                   "last_eval_loss": float(finite[-1])})

  for ci, out in state.outputs.items():
    for r, curve in enumerate(out["eval_loss"] if out["eval_loss"].ndim == 2 else []):
      add(ci, r, curve)
  if bool(state.in_chunk):
    g = next(i for i in range(len(plan.groups))
             if int(state.done[i]) < len(state.bounds[str(i)]) - 1)
    for (ci, r), curve in zip(state.chunk(plan, g, int(state.done[g])),
                              state.current.eval_loss):
      add(ci, r, curve)
  return rows
