"""The workdir's records of what ran: config.json, resumption, partial results.

`config_record(plan)` is exactly what ran; `prepare_workdir` refuses a folder
that holds another config's results (the same config resumes);
`config_from_record` reads a recorded config back for the studies.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from typing import Any

import ml_collections
import numpy as np

from lstm_init import records
from lstm_init.engine.config import RESUMABLE_FIELDS, conditional_fields
from lstm_init.errors import ConfigError
from lstm_init.engine.plan import SweepPlan, flatten, unused_by

# Files of a run that `--overwrite` discards before training again.
RUN_STATE_FILES = ("checkpoint.msgpack", "metrics.jsonl")


def swept_paths(plan: SweepPlan) -> list[str]:
  """The config fields that some condition overrides.

  Args:
    plan: the sweep's plan.

  Returns:
    The dotted paths, in order of first appearance.
  """
  return list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))


def _parent(d: dict, path: str):
  *head, name = path.split(".")
  for p in head:
    d = d[p]
  return d, name


def config_record(plan: SweepPlan) -> dict[str, Any]:
  """What config.json records: exactly what ran.

  `config` is the config every condition shares; a field that conditions vary
  holds the list of its values instead (no value that no run used). `sweep`
  is the axes that ran, `notes` says which default axes a `--config` value
  replaced, `unused` the fields that no condition reads (their values in
  `config` are defaults that did not act), and each condition lists its own
  values and what its experiment records (for the LSTM: the initializer as
  resolved, the preset's parts with the overrides applied).

  Args:
    plan: the sweep's plan.

  Returns:
    {"config", "notes", "unused", "conditions", "groups"}, JSON-ready.
  """
  config = plan.config.to_dict()
  for path in swept_paths(plan):
    parent, name = _parent(config, path)
    parent[name] = list(dict.fromkeys(c.overrides[path] for c in plan.conditions))
  config["sweep"] = list(plan.axes)
  unused = unused_fields(plan)
  return {"config": config, "notes": list(plan.notes), "unused": unused,
          "conditions": [{"name": c.name, "overrides": c.overrides, **exp.record}
                         for c, exp in zip(plan.conditions, plan.experiments)],
          "groups": plan.groups}


def unused_fields(plan: SweepPlan) -> list[str]:
  """Config fields no condition reads; a section no condition reads at all
  appears once, as its name.

  Args:
    plan: the sweep's plan.

  Returns:
    Dotted paths and section names.
  """
  flat = sorted(flatten(plan.config.to_dict()))
  candidates = list(dict.fromkeys(conditional_fields() + [p for p in flat if "." in p]))
  unused = [p for p in candidates
            if all(unused_by(c, e, p) is not None
                   for c, e in zip(plan.conditions, plan.experiments))]
  out = []
  for section in dict.fromkeys(p.split(".")[0] for p in unused):
    fields = [p for p in flat if p.startswith(section + ".")]
    whole = fields and all(p in unused for p in fields)
    out += [section] if whole else [p for p in unused if p.startswith(section + ".")]
  return out


def config_from_record(record: dict[str, Any]):
  """The config of a recorded sweep's first condition, as a ConfigDict.

  Args:
    record: a config.json record (`config_record`).

  Returns:
    The shared config with the first condition's overrides set.
  """
  config = json.loads(json.dumps(record["config"]))
  first = record["conditions"][0]["overrides"] if record.get("conditions") else {}
  for path, value in first.items():
    parent, name = _parent(config, path)
    parent[name] = value
  return ml_collections.ConfigDict(config)



def _comparable(record: dict[str, Any]) -> dict[str, Any]:
  rec = json.loads(json.dumps(record, default=records.json_default))
  for f in RESUMABLE_FIELDS:
    rec["config"].pop(f, None)
  return rec


def prepare_workdir(workdir: str, record: dict[str, Any], overwrite: bool) -> None:
  """Creates the workdir; refuses one that holds another config's results.

  The same config in the same workdir resumes (or rewrites finished outputs);
  with `overwrite` an old checkpoint and results are discarded.

  Args:
    workdir: the folder.
    record: this sweep's `config_record`.
    overwrite: discard the `RUN_STATE_FILES` of a previous sweep.

  Raises:
    ConfigError: when `workdir` is a file, or holds another config's results
      without `overwrite`.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"--workdir {workdir!r} is a file, not a folder; choose another --workdir")
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if overwrite:
      for name in RUN_STATE_FILES:
        if os.path.exists(os.path.join(workdir, name)):
          os.remove(os.path.join(workdir, name))
    elif _comparable(old) != _comparable(record):
      raise ConfigError(f"workdir {workdir!r} holds results of a different config; choose "
                        "another --workdir or pass --overwrite")
  os.makedirs(workdir, exist_ok=True)


LOCK = ".lock"


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's live process
    return True
  return True


@contextlib.contextmanager
def locked(workdir: str, log):
  """Holds `workdir/.lock` (this process's PID and host) while a sweep writes there.

  A second live process on the same workdir is refused with one line; a lock
  left by a process that is no longer running (on this host) is taken over,
  and the log says so. The lock goes when the sweep ends, however it ends.

  Args:
    workdir: the folder (created if missing).
    log: where the takeover line goes.

  Yields:
    Nothing; the lock is held while the block runs.

  Raises:
    ConfigError: when `workdir` is a file, or a live process holds the lock.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"--workdir {workdir!r} is a file, not a folder; choose another --workdir")
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK)
  me = {"pid": os.getpid(), "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S")}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      try:
        with open(path) as f:
          owner = json.load(f)
      except (OSError, ValueError):
        owner = {}
      pid, host = int(owner.get("pid", -1)), owner.get("host", "?")
      if host == me["host"] and pid > 0 and not _alive(pid):
        log(f"workdir lock: process {pid} on {host} (since {owner.get('since')}) is no longer "
            "running; taking its lock over")
        os.remove(path)
        continue
      where = "this host" if host == me["host"] else f"host {host}"
      raise ConfigError(f"workdir {workdir!r} is being written by process {pid} on {where} "
                        f"(since {owner.get('since')}, {path}); wait for it to finish, or "
                        "choose another --workdir" + ("" if host == me["host"] else
                        f" (if that process is gone, remove {path})")) from None
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    break
  try:
    yield
  finally:
    try:
      with open(path) as f:
        if json.load(f).get("pid") == me["pid"]:
          os.remove(path)
    except (OSError, ValueError):
      pass


def write_partial(workdir: str, plan: SweepPlan, state) -> str:
  """results.partial.csv: the latest validation of every run trained so far
  (`state`: the loop's `SweepState` at an interruption).

  Args:
    workdir: the sweep's folder.
    plan: the sweep's plan.
    state: the loop's `SweepState`.

  Returns:
    The path of the file written.
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
  path = os.path.join(workdir, "results.partial.csv")
  records.write_csv(path, rows, ["condition", "seed", "last_eval_loss"])
  return path
