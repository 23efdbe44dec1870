"""Executes a planned sweep: trains each group's runs and writes the records.

`sweep.run_sweep` is the entry point; this module holds the loop. Runs of one
group (conditions sharing a program) are stacked on one axis; they are split
into chunks of runs that fit in memory, and each chunk trains in jitted
pieces of `eval_every` steps with evaluation and logging in between.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lstm_init import checkpoint, distributed, records
from lstm_init.config import conditional_fields, eval_every, unused_reason
from lstm_init.errors import ConfigError
from lstm_init.results import (curve_arrays, describe_plan, result_columns, result_rows,
                               summarize, summary_table)
from lstm_init.plan import SweepPlan, condition_keys
from lstm_init.model import resolved_init
from lstm_init.train import run_values

@dataclasses.dataclass
class SweepResult:
  workdir: str
  rows: list[dict[str, Any]]
  summary: dict[str, Any]
  curves: dict[str, np.ndarray]




class Progress:
  """Progress lines with rate and ETA at every chunk boundary."""

  def __init__(self, total_seed_steps: int, log: Callable[[str], None]):
    self.total, self.done, self.log = total_seed_steps, 0, log
    self.start = time.time()

  def update(self, seed_steps: int, prefix: str, losses: np.ndarray, evals: np.ndarray):
    self.done += seed_steps
    elapsed = time.time() - self.start
    rate = self.done / max(elapsed, 1e-9)
    eta = (self.total - self.done) / max(rate, 1e-9)
    finite = losses[np.isfinite(losses)]
    ev = evals[np.isfinite(evals)]
    desc = lambda a: (f"{np.median(a):.4g} [{np.quantile(a, 0.1):.4g}, "
                      f"{np.quantile(a, 0.9):.4g}]") if a.size else "n/a"
    self.log(f"{prefix} | {rate:,.0f} seed-steps/s | ETA {_fmt_time(eta)} | train loss "
             f"median {desc(finite)} | val loss median {desc(ev)} (q10, q90)")


def _fmt_time(s: float) -> str:
  s = int(round(s))
  return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


CHECKPOINT = "checkpoint.msgpack"


@dataclasses.dataclass(frozen=True)
class Piece:
  """Steps `[start, end)` trained by one compiled program, validating after each
  segment (`segments = ((length, count), ...)`); `first_eval` indexes the
  first of its validations in `Schedule.evals`."""

  start: int
  end: int
  segments: tuple[tuple[int, int], ...]
  first_eval: int


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When a run validates (`evals`, step 0 first) and where the host loop
  takes over (`pieces`: log, progress, metrics.jsonl, checkpoint, SIGINT)."""

  evals: tuple[int, ...]
  pieces: tuple[Piece, ...]

  @property
  def total(self) -> int:
    return self.evals[-1]


def make_schedule(total: int, every: int, log_every: int) -> Schedule:
  """Pieces of `log_every` steps (the last may be shorter), each validating
  every `every` steps from its start and at its end.

  Every full piece has the same segments, so it is one compiled program;
  when `every` divides `log_every` the validations are the multiples of
  `every`.
  """
  evals, pieces = [0], []
  for start in range(0, total, log_every):
    end = min(start + log_every, total)
    points = sorted(set(range(start + every, end, every)) | {end})
    lengths = np.diff([start] + points).tolist()
    segments: list[list[int]] = []
    for length in lengths:
      if segments and segments[-1][0] == length:
        segments[-1][1] += 1
      else:
        segments.append([length, 1])
    pieces.append(Piece(start, end, tuple(map(tuple, segments)), len(evals)))
    evals += points
  return Schedule(tuple(evals), tuple(pieces))


def schedule_of(config) -> Schedule:
  t = config.train
  return make_schedule(int(t.steps), eval_every(t), int(t.log_every))


def _concat(trees):
  return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *trees)


def _stack_values(values: dict[str, float], n: int) -> dict[str, jax.Array]:
  return {k: jnp.full((n,), v, jnp.float32) for k, v in values.items()}


# Set to 1 (tests) to assert that each program of a group is traced once.
MAX_TRACES: int | None = None


def _as_function(fn, name: str):
  """`fn` as a plain function named `name` (chex tells programs apart by name)."""
  def program(*args):
    return fn(*args)
  program.__name__ = program.__qualname__ = name
  return program


class GroupPrograms:
  """The jitted, vmapped functions of one group (compiled once, reused by chunks).

  `piece(state, data, segments)` and `evaluate(state, data, split)` take the
  stacked runs; each device runs its shard of them, `seed_group` at a time.
  Each distinct program is traced and compiled once.
  """

  def __init__(self, plan: SweepPlan, group: list[int], mesh=None, seed_group: int = 0):
    self.trainer = plan.trainers[group[0]]
    self.init = {ci: jax.jit(jax.vmap(plan.trainers[ci].init_run)) for ci in group}
    self.mesh = mesh if mesh is not None else distributed.run_mesh(1)
    self.group = seed_group
    self._compiled = {}

  def _program(self, name, static):
    key = (name, static)
    if key not in self._compiled:
      if name == "run_piece":
        fn = functools.partial(self.trainer.run_piece, segments=static)
      elif static == "curve":  # the learning curves' validation (see Trainer.run_piece)
        fn = functools.partial(self.trainer.evaluate, split="val", rows=self.trainer.curve_rows)
      elif static == "final":  # validation and test in one program
        fn = lambda state, data: {split: self.trainer.evaluate(state, data, split)
                                  for split in ("val", "test")}
      else:
        fn = functools.partial(self.trainer.evaluate, split=static)
      if MAX_TRACES is not None:
        fn = chex.assert_max_traces(_as_function(fn, f"{name}{static}@{id(self)}"),
                                    n=MAX_TRACES)
      body = distributed.in_groups(jax.vmap(fn, in_axes=(0, None)), self.group)
      self._compiled[key] = jax.jit(distributed.per_device(body, self.mesh, 1))
    return self._compiled[key]

  def piece(self, state, data, segments: tuple[tuple[int, int], ...]):
    return self._program("run_piece", segments)(state, data)

  def evaluate(self, state, data, split: str):
    return self._program("evaluate", split)(state, data)


def init_runs(plan: SweepPlan, programs: GroupPrograms, runs: list[tuple[int, int]]):
  """The stacked initial state of `runs` ((condition, seed row) pairs)."""
  states = []
  for ci in dict.fromkeys(c for c, _ in runs):
    rows = np.array([r for c, r in runs if c == ci])
    cfg = plan.conditions[ci].config
    k = condition_keys(cfg, plan.layouts[ci], rows)
    states.append(programs.init[ci](k, _stack_values(run_values(cfg), len(rows))))
  return _concat(states)


class Interrupted(Exception):
  """SIGINT during a sweep: the current piece finished and a checkpoint was written."""


class _Sigint:
  """Turns the first SIGINT into a flag the loop checks between pieces."""

  def __init__(self):
    self.hit = False

  def __enter__(self):
    import signal
    import threading
    self.old = None
    if threading.current_thread() is threading.main_thread():
      self.old = signal.signal(signal.SIGINT, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.hit:  # a second Ctrl-C stops at once
      raise KeyboardInterrupt
    self.hit = True

  def __exit__(self, *exc):
    import signal
    if self.old is not None:
      signal.signal(signal.SIGINT, self.old)


def _is_oom(e: Exception) -> bool:
  msg = str(e)
  return "RESOURCE_EXHAUSTED" in msg or "Out of memory" in msg or "out of memory" in msg


def estimate_run_bytes(programs: GroupPrograms, plan: SweepPlan, group: list[int], data,
                       segments: tuple[tuple[int, int], ...]) -> tuple[int, int]:
  """Memory of one run, from XLA's memory analysis of the compiled programs.

  Compiles a training piece (with its validations) and the evaluation for a
  single run.

  Returns:
    (held, working): bytes a run holds for the whole chunk (its arguments and
    outputs: parameters, optimizer state, records; the shared task data is
    counted in full, so this is an upper bound) and the extra bytes while it
    computes (XLA's temporaries: activations). Runs computing at once need
    both; runs waiting their turn in a device's loop only the first.
  """
  state = init_runs(plan, programs, [(group[0], 0)])
  single = GroupPrograms(plan, group[:1])
  held = working = 0
  for fn, args in ((single._program("run_piece", segments), (state, data)),
                   (single._program("evaluate", "final"), (state, data))):
    m = fn.lower(*args).compile().memory_analysis()
    if m is None:
      continue
    held = max(held, m.argument_size_in_bytes + m.output_size_in_bytes)
    working = max(working, m.temp_size_in_bytes)
  return int(held), int(working)


def _fresh_records(n: int, schedule: Schedule) -> dict[str, np.ndarray]:
  e = len(schedule.evals)
  return {"train_steps": np.full((n, schedule.total), np.nan, np.float32),
          "train_curve": np.full((n, e), np.nan), "eval_loss": np.full((n, e), np.nan),
          "eval_metric": np.full((n, e), np.nan), "diverged_step": np.full((n,), -1),
          "next_eval": 0, "next_piece": 0}


class Execution:
  """One sweep's execution: chunk plan, programs, checkpoints, records."""

  def __init__(self, plan: SweepPlan, workdir: str, log):
    self.plan, self.workdir, self.log = plan, workdir, log
    cfg = plan.config
    self.mesh = distributed.run_mesh(int(cfg.devices))
    self.sharding = distributed.runs_sharding(self.mesh)
    self.writer = distributed.is_writer()
    self.ckpt_path = os.path.join(workdir, CHECKPOINT)
    self.ckpt_every = float(cfg.checkpoint_every_s)
    self.last_ckpt = 0.0
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.schedules = [schedule_of(c.config) for c in plan.conditions]
    self.steps = [list(sc.evals) for sc in self.schedules]
    self.progress = {"chunks": {}, "done": [], "per_condition": {}, "current": None}
    self.sigint = None

  # -- checkpoints -----------------------------------------------------------

  def resume(self) -> bool:
    if not checkpoint.exists(self.ckpt_path):
      return False
    _, self.progress = checkpoint.load(self.ckpt_path)
    done = len(self.progress["done"])
    self.log(f"resuming from {self.ckpt_path}: {done} chunk(s) of runs complete")
    return True

  def save(self, state=None, force=False):
    if not self.writer:
      if state is not None:
        checkpoint.to_host(state)  # every process joins the gather
      return
    now = time.time()
    if not force and now - self.last_ckpt < self.ckpt_every:
      return
    checkpoint.save(self.ckpt_path, state, self.progress)
    self.last_ckpt = now

  # -- chunks ----------------------------------------------------------------

  def chunk_plan(self, g: int, group: list[int], programs: GroupPrograms, data) -> list:
    key = str(g)
    if key in self.progress["chunks"]:
      return [[tuple(int(v) for v in r) for r in np.asarray(c).reshape(-1, 2)]
              for c in self.progress["chunks"][key]]
    runs = [(ci, r) for ci in group for r in range(len(self.plan.layouts[ci]["seed"]))]
    cfg = self.plan.config
    held, working = estimate_run_bytes(programs, self.plan, group,
                                       self.plan.tasks[group[0]].data,
                                       self.schedules[group[0]].pieces[0].segments)
    per_run = held + working
    budget = distributed.memory_budget_bytes(cfg.memory_budget_gb, self.mesh)
    if programs.group > 0:  # only a group per device computes at a time
      in_flight = programs.group * self.mesh.size
      size = max(1, int((budget - in_flight * working) // max(held, 1)))
    else:
      size = max(1, int(budget // max(per_run, 1)))
    if int(cfg.max_chunk_seeds) > 0:
      size = min(size, int(cfg.max_chunk_seeds))
    d = self.mesh.size
    if size >= d:
      size = size // d * d
    size = min(size, len(runs))
    chunks = chunk_runs(runs, size)
    self.log(f"memory: {per_run / 2**20:.2f} MiB per run computing ({held / 2**20:.2f} MiB "
             f"held while waiting; XLA estimate), budget {budget / 2**30:.2f} GiB over {d} "
             f"device(s), {programs.group or 'all'} run(s) at a time per device -> {size} runs "
             f"per chunk, {len(chunks)} chunk(s)")
    self.progress["chunks"][key] = [np.array(c) for c in chunks]
    return chunks

  def split_after_oom(self, g: int, k: int, chunks: list) -> list:
    size = max(1, len(chunks[k]) // 2)
    rest = [r for c in chunks[k:] for r in c]
    new = chunks[:k] + chunk_runs(rest, size)
    self.log(f"out of memory with {len(chunks[k])} runs per chunk; retrying with {size}")
    self.progress["chunks"][str(g)] = [np.array(c) for c in new]
    return new

  def train_chunk(self, g, k, programs, chunk, data, prefix, progress_bar):
    """Trains one chunk of runs from the start or from its checkpoint."""
    plan, sched = self.plan, self.schedules[chunk[0][0]]
    n = len(chunk)
    n_pad = distributed.padded(n, self.mesh, programs.group)
    padded_runs = chunk + [chunk[-1]] * (n_pad - n)
    state = init_runs(plan, programs, padded_runs)
    cur = self.progress["current"]
    if cur is not None and cur["g"] == g and cur["k"] == k and checkpoint.exists(self.ckpt_path):
      state, _ = checkpoint.load(self.ckpt_path, template=state)
      rec = cur["records"]
      self.log(f"{prefix} resuming at step {sched.pieces[int(rec['next_piece']) - 1].end}")
    else:
      rec = _fresh_records(n_pad, sched)
    state = distributed.place(state, self.sharding)
    names = [plan.conditions[ci].name for ci, _ in chunk]
    if int(rec["next_eval"]) == 0:  # validation at initialization
      ev = programs.evaluate(state, data, "curve")
      rec["eval_loss"][:, 0] = distributed.fetch(ev["loss"])
      rec["eval_metric"][:, 0] = distributed.fetch(ev["metric"])
      rec["next_eval"] = 1
    first = int(rec["next_piece"])
    progress_bar.done += n * (sched.pieces[first - 1].end if first > 0 else 0)
    for p in range(first, len(sched.pieces)):
      piece = sched.pieces[p]
      state, out = programs.piece(state, data, piece.segments)
      out = {name: distributed.fetch(v) for name, v in out.items()}  # one host sync a piece
      losses = out["train_loss"]
      first_nan = np.where(np.isnan(losses).any(axis=1), np.argmax(np.isnan(losses), axis=1),
                           -1)
      newly = (rec["diverged_step"] < 0) & (first_nan >= 0)
      rec["diverged_step"][newly] = piece.start + first_nan[newly] + 1
      rec["train_steps"][:, piece.start:piece.end] = losses
      evals = slice(piece.first_eval, piece.first_eval + out["eval_loss"].shape[1])
      rec["eval_loss"][:, evals] = out["eval_loss"]
      rec["eval_metric"][:, evals] = out["eval_metric"]
      # The train curve at a validation: the mean loss of the steps since the last
      # one, over the steps before a seed diverged.
      for e in range(evals.start, evals.stop):
        seg = rec["train_steps"][:, sched.evals[e - 1]:sched.evals[e]]
        finite = np.isfinite(seg)
        rec["train_curve"][:, e] = np.where(
            finite.any(axis=1), np.where(finite, seg, 0).sum(1) / np.maximum(finite.sum(1), 1),
            np.nan)
      e = evals.stop - 1
      rec["next_eval"], rec["next_piece"] = e + 1, p + 1
      progress_bar.update(n * (piece.end - piece.start), f"{prefix} step {piece.end}/"
                          f"{sched.total}", rec["train_curve"][:n, e], rec["eval_loss"][:n, e])
      if self.writer:
        records.append_jsonl(self.metrics_path, {
            "group": g, "chunk": k, "step": piece.end, "runs": n, "conditions": names,
            "train_loss": rec["train_curve"][:n, e], "eval_loss": rec["eval_loss"][:n, e],
            "eval_metric": rec["eval_metric"][:n, e]})
      self.progress["current"] = {"g": g, "k": k, "records": rec}
      last = p == len(sched.pieces) - 1
      if self.sigint is not None and self.sigint.hit and not last:
        self.save(state, force=True)
        raise Interrupted()
      if not last:
        self.save(state)
    final = programs.evaluate(state, data, "final")
    ev, test = final["val"], final["test"]
    out = {k2: rec[k2][:n] for k2 in ("train_steps", "train_curve", "eval_loss", "eval_metric",
                                       "diverged_step")}
    out.update({"final_eval_loss": distributed.fetch(ev["loss"])[:n],
                "final_eval_metric": distributed.fetch(ev["metric"])[:n],
                "per_position": distributed.fetch(ev["per_position"])[:n],
                "test_loss": distributed.fetch(test["loss"])[:n],
                "test_metric": distributed.fetch(test["metric"])[:n],
                "diverged": distributed.fetch(state["diverged"])[:n]})
    return out

  def store(self, chunk, out):
    for ci in dict.fromkeys(c for c, _ in chunk):
      sel = np.array([i for i, (c, _) in enumerate(chunk) if c == ci])
      rows = np.array([r for c, r in chunk if c == ci])
      dest = self.progress["per_condition"].setdefault(ci, {})
      for name, arr in out.items():
        arr = np.asarray(arr)
        if name not in dest:
          dest[name] = np.full((len(self.plan.layouts[ci]["seed"]),) + arr.shape[1:], np.nan)
        dest[name][rows] = arr[sel]

  def run(self):
    plan, cfg = self.plan, self.plan.config
    resumed = self.resume()
    if not resumed and self.writer and os.path.exists(self.metrics_path):
      os.remove(self.metrics_path)
    total = sum(len(plan.layouts[i]["seed"]) * s[-1] for i, s in enumerate(self.steps))
    progress_bar = Progress(total, self.log)
    self.log(describe_plan(plan))
    with _Sigint() as self.sigint:
      for g, group in enumerate(plan.groups):
        programs = GroupPrograms(plan, group, self.mesh,
                                 distributed.seed_group(int(cfg.seed_group)))
        task = plan.tasks[group[0]]
        data = distributed.place(task.data, distributed.replicated(self.mesh))
        chunks = self.chunk_plan(g, group, programs, data)
        k = 0
        while k < len(chunks):
          chunk = chunks[k]
          if [g, k] in [list(map(int, d)) for d in self.progress["done"]]:
            progress_bar.done += sum(self.steps[ci][-1] for ci, _ in chunk)
            k += 1
            continue
          prefix = (f"[group {g + 1}/{len(plan.groups)} chunk {k + 1}/{len(chunks)} "
                    f"{len(chunk)} runs]")
          try:
            out = self.train_chunk(g, k, programs, chunk, data, prefix, progress_bar)
          except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
            if not _is_oom(e) or len(chunk) == 1:
              raise
            chunks = self.split_after_oom(g, k, chunks)
            self.progress["current"] = None
            continue
          self.store(chunk, out)
          self.progress["done"].append([g, k])
          self.progress["current"] = None
          self.save(force=True)
          k += 1
    return self.progress["per_condition"]


def chunk_runs(runs: list, size: int) -> list[list]:
  size = max(1, size)
  return [runs[i:i + size] for i in range(0, len(runs), size)]


def config_record(plan: SweepPlan) -> dict[str, Any]:
  """What config.json records: exactly what ran.

  `config` is the config every condition shares; a field that conditions vary
  holds the list of its values instead (no value that no run used). `sweep`
  is the axes that ran, `notes` says which default axes a `--config` value
  replaced, `unused` the fields that no condition reads (their values in
  `config` are defaults that did not act), and each condition lists its own
  values and its initializer as resolved (the preset's parts with the
  overrides applied).
  """
  config = plan.config.to_dict()
  for path in swept_paths(plan):
    parent, name = _parent(config, path)
    parent[name] = list(dict.fromkeys(c.overrides[path] for c in plan.conditions))
  config["sweep"] = list(plan.axes)
  unused = [p for p in conditional_fields()
            if all(unused_reason(c.config, p) is not None for c in plan.conditions)]
  return {"config": config, "notes": list(plan.notes), "unused": unused,
          "conditions": [{"name": c.name, "overrides": c.overrides,
                          "init": resolved_init(c.config, task.input_size)}
                         for c, task in zip(plan.conditions, plan.tasks)],
          "groups": plan.groups}


def swept_paths(plan: SweepPlan) -> list[str]:
  return list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))


def _parent(d: dict, path: str):
  *head, name = path.split(".")
  for p in head:
    d = d[p]
  return d, name


def config_from_record(record: dict[str, Any]):
  """The config of a recorded sweep's first condition, as a ConfigDict."""
  config = json.loads(json.dumps(record["config"]))
  first = record["conditions"][0]["overrides"] if record.get("conditions") else {}
  for path, value in first.items():
    parent, name = _parent(config, path)
    parent[name] = value
  return ml_collections.ConfigDict(config)


# Fields that may change between a run and its resumption without changing results.
RESUMABLE_FIELDS = ("report", "checkpoint_every_s", "memory_budget_gb", "max_chunk_seeds",
                    "devices")


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
  rec = json.loads(json.dumps(record, default=records._default))
  for f in RESUMABLE_FIELDS:
    rec["config"].pop(f, None)
  return rec


def prepare_workdir(workdir: str, record: dict[str, Any], overwrite: bool) -> None:
  """Creates the workdir; refuses one that holds another config's results.

  The same config in the same workdir resumes (or rewrites finished outputs);
  with `overwrite` an old checkpoint and results are discarded.
  """
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if overwrite:
      for name in (CHECKPOINT, "metrics.jsonl"):
        if os.path.exists(os.path.join(workdir, name)):
          os.remove(os.path.join(workdir, name))
    elif _comparable(old) != _comparable(record):
      raise ConfigError(f"workdir {workdir!r} holds results of a different config; choose "
                        "another --workdir or pass --overwrite")
  os.makedirs(workdir, exist_ok=True)


def write_partial(ex: Execution) -> str:
  """results.partial.csv: the latest evaluation of every run trained so far."""
  rows = []
  for ci, out in ex.progress["per_condition"].items():
    for r in range(len(out["eval_loss"])):
      if np.isfinite(out["eval_loss"][r]).any():
        rows.append({"condition": ex.plan.conditions[ci].name, "seed": r,
                     "last_eval_loss": float(out["eval_loss"][r][np.isfinite(
                         out["eval_loss"][r])][-1])})
  cur = ex.progress["current"]
  if cur is not None:
    chunk = ex.progress["chunks"][str(cur["g"])][cur["k"]].reshape(-1, 2)
    ev = cur["records"]["eval_loss"]
    e = int(cur["records"]["next_eval"]) - 1
    for i, (ci, r) in enumerate(chunk):
      rows.append({"condition": ex.plan.conditions[int(ci)].name, "seed": int(r),
                   "last_eval_loss": float(ev[i, e])})
  path = os.path.join(ex.workdir, "results.partial.csv")
  records.write_csv(path, rows, ["condition", "seed", "last_eval_loss"])
  return path


def execute(plan: SweepPlan, workdir: str, log: Callable[[str], None] = print,
            overwrite: bool = False) -> SweepResult:
  """Trains every group and writes config, environment, results, curves, summary."""
  distributed.initialize()
  writer = distributed.is_writer()
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"--workdir {workdir!r} is a file, not a folder; choose another --workdir")
  for note in plan.notes:
    log(note)
  record = config_record(plan)
  if writer:
    prepare_workdir(workdir, record, overwrite)
    records.write_json(os.path.join(workdir, "config.json"), record)
    records.write_json(os.path.join(workdir, "environment.json"), records.environment())
  else:
    log = lambda s: None
  ex = Execution(plan, workdir, log)
  try:
    per_condition = ex.run()
  except Interrupted:
    path = write_partial(ex) if writer else ""
    raise ConfigError(f"interrupted: checkpoint written to {ex.ckpt_path} and partial results "
                      f"to {path}; run the same command again to resume") from None
  cfg = plan.config
  rows = result_rows(plan, per_condition)
  curves = curve_arrays(plan, per_condition, ex.steps)
  summary = summarize(plan, rows)
  if writer:
    records.write_csv(os.path.join(workdir, "results.csv"), rows, result_columns(plan))
    records.write_npz(os.path.join(workdir, "curves.npz"), **curves)
    records.write_json(os.path.join(workdir, "summary.json"), summary)
    if os.path.exists(os.path.join(workdir, "results.partial.csv")):
      os.remove(os.path.join(workdir, "results.partial.csv"))
  log(summary_table(summary))
  if cfg.report and writer:
    from lstm_init import report
    paths = report.write_report([workdir], workdir)
    log(f"report: {paths['report_md']} (figures in {os.path.join(workdir, 'figures')})")
  return SweepResult(workdir, rows, summary, curves)


