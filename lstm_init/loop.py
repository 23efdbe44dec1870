"""The host loop of a sweep: chunks of runs, pieces of steps, checkpoints.

  outputs = Loop(plan, workdir, log).run()   # per condition: arrays over seeds

Groups run one after another; a group's runs are cut into chunks that fit in
memory; a chunk trains piece by piece (`lstm_init.programs`). Between pieces
the loop logs progress, appends to metrics.jsonl, checks for Ctrl-C and
checkpoints. The whole position of the sweep is one typed `SweepState`, which
is also what the checkpoint holds beside the chunk's run states.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable

import flax.struct
import numpy as np

from lstm_init import checkpoint, distributed, records, seed_groups
from lstm_init.errors import ConfigError
from lstm_init.plan import SweepPlan
from lstm_init.programs import GroupPrograms, Schedule, schedule_of
from lstm_init.progress import Interrupted, Progress, StopSignals
from lstm_init.runs import RECORD_SHARE, boundaries, group_runs, plan_identity, record_bytes

CHECKPOINT = "checkpoint.msgpack"
# Per condition, [seeds, ...] arrays: results.py turns them into rows and curves.
OUTPUTS = ("train_steps", "train_curve", "eval_loss", "eval_metric", "diverged_step",
           "final_eval_loss", "final_eval_metric", "per_position", "test_loss", "test_metric",
           "diverged")


@flax.struct.dataclass
class ChunkRecords:
  """Host records of the chunk in training (runs on the first axis)."""

  train_steps: np.ndarray    # [runs, steps] float32: every step's loss, NaN once diverged
  train_curve: np.ndarray    # [runs, evals]: mean train loss since the previous validation
  eval_loss: np.ndarray      # [runs, evals]
  eval_metric: np.ndarray    # [runs, evals]
  diverged_step: np.ndarray  # [runs]: first step with a NaN loss, -1 if none
  next_piece: np.ndarray     # pieces trained (the validation at step 0 comes before them)

  @classmethod
  def fresh(cls, n: int, schedule: Schedule) -> "ChunkRecords":
    e = len(schedule.evals)
    nan = lambda *shape: np.full(shape, np.nan)
    return cls(np.full((n, schedule.total), np.nan, np.float32), nan(n, e), nan(n, e),
               nan(n, e), np.full((n,), -1), np.array(0))

  def record_start(self, ev: dict[str, np.ndarray]) -> None:
    """The validation at initialization (step 0)."""
    self.eval_loss[:, 0], self.eval_metric[:, 0] = ev["loss"], ev["metric"]

  def record_piece(self, schedule: Schedule, p: int, out: dict[str, np.ndarray]) -> int:
    """Stores piece p's outputs; returns the index of its last validation."""
    piece = schedule.pieces[p]
    losses = out["train_loss"]
    nan = np.isnan(losses)
    first_nan = np.where(nan.any(axis=1), np.argmax(nan, axis=1), -1)
    newly = (self.diverged_step < 0) & (first_nan >= 0)
    self.diverged_step[newly] = piece.start + first_nan[newly] + 1
    self.train_steps[:, piece.start:piece.end] = losses
    evals = range(piece.first_eval, piece.first_eval + out["eval_loss"].shape[1])
    self.eval_loss[:, evals.start:evals.stop] = out["eval_loss"]
    self.eval_metric[:, evals.start:evals.stop] = out["eval_metric"]
    # The train curve at a validation: the mean loss of the steps since the
    # last one, over the steps before a run diverged.
    for e in evals:
      seg = self.train_steps[:, schedule.evals[e - 1]:schedule.evals[e]]
      finite = np.isfinite(seg)
      mean = np.where(finite, seg, 0).sum(1) / np.maximum(finite.sum(1), 1)
      self.train_curve[:, e] = np.where(finite.any(axis=1), mean, np.nan)
    self.next_piece[...] = p + 1
    return evals.stop - 1


@flax.struct.dataclass
class SweepState:
  """Where a sweep stands. Groups, and chunks within a group, finish in order."""

  bounds: dict[str, np.ndarray]   # per group: chunk boundaries in its run list (empty: unplanned)
  done: np.ndarray                # [groups]: chunks finished
  outputs: dict[str, dict[str, np.ndarray]]  # per condition: OUTPUTS over its seeds
  current: ChunkRecords           # the chunk in training, valid when `in_chunk`
  in_chunk: np.ndarray            # whether the checkpoint holds that chunk's run states
  at_once: np.ndarray             # [groups]: runs vmapped at once per device (-1: unset)

  @classmethod
  def fresh(cls, plan: SweepPlan) -> "SweepState":
    empty = lambda: np.zeros((0,))
    return cls({str(g): np.zeros((0,), int) for g in range(len(plan.groups))},
               np.zeros(len(plan.groups), int),
               {str(ci): {name: empty() for name in OUTPUTS}
                for ci in range(len(plan.conditions))},
               ChunkRecords(*(empty() for _ in range(5)), np.array(0)),
               np.array(False), np.full(len(plan.groups), -1))

  def num_chunks(self, g: int) -> int:
    """How many chunks group g is cut into (0 before it is planned)."""
    return max(0, self.bounds[str(g)].size - 1)

  def chunk(self, plan: SweepPlan, g: int, k: int) -> list[tuple[int, int]]:
    """Chunk k of group g as (condition, seed row) pairs."""
    b = self.bounds[str(g)]
    return group_runs(plan, g)[int(b[k]):int(b[k + 1])]

  def store(self, plan: SweepPlan, chunk, out: dict[str, np.ndarray]) -> None:
    """Files a finished chunk's per-run outputs under each condition's seeds."""
    for ci in dict.fromkeys(c for c, _ in chunk):
      sel = np.array([i for i, (c, _) in enumerate(chunk) if c == ci])
      rows = np.array([r for c, r in chunk if c == ci])
      dest = self.outputs[str(ci)]
      for name, arr in out.items():
        arr = np.asarray(arr)
        if dest[name].shape[:1] != (len(plan.layouts[ci]["seed"]),):
          dest[name] = np.full((len(plan.layouts[ci]["seed"]),) + arr.shape[1:], np.nan)
        dest[name][rows] = arr[sel]


def _is_oom(e: Exception) -> bool:
  msg = str(e)
  return "RESOURCE_EXHAUSTED" in msg or "Out of memory" in msg or "out of memory" in msg


class Loop:
  """One sweep's execution: chunk sizes, programs, checkpoints, records."""

  def __init__(self, plan: SweepPlan, workdir: str, log: Callable[[str], None],
               seed_groups: list[int] | None = None):
    """`seed_groups`: runs per vmapped group for each group of `plan` (default:
    from the config's rule; `experiments.reproduce` gives the recorded ones)."""
    self.plan, self.workdir, self.log = plan, workdir, log
    cfg = plan.config
    self.mesh = distributed.run_mesh(int(cfg.devices))
    self.writer = distributed.is_writer()
    self.ckpt_path = os.path.join(workdir, CHECKPOINT)
    self.ckpt_every = float(cfg.checkpoint_every_s)
    self.last_ckpt = -math.inf
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.schedules = [schedule_of(c.config) for c in plan.conditions]
    self.identity = plan_identity(plan, self.schedules)
    self.state = SweepState.fresh(plan)
    if seed_groups is not None:
      self.state = self.state.replace(at_once=np.array(seed_groups, int))
    self.sigint: StopSignals | None = None
    self.compile_s = 0.0  # over every group's programs
    self.first_step_at: float | None = None  # time.time() when training began

  # -- checkpoints -----------------------------------------------------------

  def check_size(self) -> None:
    """Refuses, before training, a sweep whose records cannot fit in host memory:
    every run keeps each step's loss, its validations and a results row."""
    need = sum(len(lay["seed"]) * record_bytes(s)
               for lay, s in zip(self.plan.layouts, self.schedules))
    have = distributed.host_memory_bytes()
    if need > RECORD_SHARE * have:
      runs = sum(len(lay["seed"]) for lay in self.plan.layouts)
      raise ConfigError(
          f"{runs:,} runs need about {need / 2**30:.1f} GiB of host memory for their records "
          f"(each step's loss, each validation, a results row), more than {RECORD_SHARE:.0%} "
          f"of the {have / 2**30:.1f} GiB available; valid choices: fewer seeds, conditions "
          "or train.steps, or a machine with more memory")

  def check_checkpoint(self) -> None:
    """Refuses, with one line, a checkpoint in the workdir that is damaged or was
    written by another plan (before anything in the workdir is written)."""
    if os.path.isfile(self.ckpt_path):
      checkpoint.check(self.ckpt_path, self.identity)

  def resume(self) -> bool:
    if not os.path.isfile(self.ckpt_path):
      return False
    self.state = checkpoint.load_sweep(self.ckpt_path, self.state, self.identity)
    self.log(f"resuming from {self.ckpt_path}: {int(self.state.done.sum())} chunk(s) of runs "
             "complete")
    return True

  def save(self, runs: distributed.DeviceGroups | None = None, force: bool = False) -> None:
    """Checkpoints the sweep state and the chunk's runs (at most every
    `checkpoint_every_s` unless `force`). Process 0's clock decides for every
    process, so all of them join the same gathers."""
    due = force or time.time() - self.last_ckpt >= self.ckpt_every
    if not force:
      due = bool(distributed.broadcast_from_writer(int(due)))
    if not due:
      return
    gathered = None if runs is None else runs.fetch()  # every process joins the gather
    if self.writer:
      checkpoint.save(self.ckpt_path, self.state, gathered, self.identity)
    self.last_ckpt = time.time()

  # -- chunks ----------------------------------------------------------------

  def plan_chunks(self, g: int, programs: GroupPrograms, data) -> None:
    """Chunk sizes from the compiled programs' own memory analysis."""
    if self.state.bounds[str(g)].size:
      return
    runs = group_runs(self.plan, g)
    cfg, d = self.plan.config, self.mesh.size

    # A chunk holds whole groups of runs on every device where it can: a
    # group is padded to its size anyway.
    whole = d * max(1, programs.group)

    def rounded(size: int) -> int:
      if int(cfg.max_chunk_seeds) > 0:
        size = min(size, int(cfg.max_chunk_seeds))
      if size >= len(runs):
        return len(runs)
      unit = whole if size >= whole else d
      return size // unit * unit if size >= unit else size

    # Analyse one group's programs: the ones every chunk then runs.
    size = rounded(len(runs))
    shapes = programs.abstract_group(runs[0])
    segments = self.schedules[runs[0][0]].pieces[0].segments
    held, temp = programs.run_bytes(shapes, data, segments)
    budget = distributed.memory_budget_bytes(cfg.memory_budget_gb, self.mesh)
    if size * held + d * temp > budget:  # each device runs its groups in turn
      if whole * held + d * temp > budget:
        raise ConfigError(
            f"seed_group={programs.group} needs about {(whole * held + d * temp) / 2**30:.2f} "
            f"GiB for one group of runs per device, over the budget of {budget / 2**30:.2f} "
            f"GiB; valid choices: a smaller --config.seed_group (a seed's result depends on "
            f"it), or a larger --config.memory_budget_gb")
      size = min(size, rounded(max(1, int((budget - d * temp) // held))))
    bounds = boundaries(len(runs), size)
    self.log(f"memory: {held / 2**20:.2f} MiB held per run and {temp / 2**20:.1f} MiB of "
             f"temporaries per device for a group of {programs.group} run(s) (XLA's analysis "
             f"of the compiled programs); budget {budget / 2**30:.2f} GiB over {d} device(s) "
             f"-> {size} runs per chunk, {len(bounds) - 1} chunk(s)")
    self.state.bounds[str(g)] = np.array(bounds)

  def split_after_oom(self, g: int, k: int, unit: int) -> None:
    """Cuts chunk k of group g and the rest into chunks of half its size
    (whole multiples of `unit` runs)."""
    b = self.state.bounds[str(g)].tolist()
    size = max(unit, (b[k + 1] - b[k]) // 2 // unit * unit)
    self.log(f"out of memory with {b[k + 1] - b[k]} runs per chunk; retrying with {size}")
    self.state.bounds[str(g)] = np.array(b[:k] + boundaries(b[-1], size, b[k]))

  # -- training --------------------------------------------------------------

  def train_chunk(self, g: int, k: int, programs: GroupPrograms, chunk, data, prefix,
                  progress: Progress) -> dict[str, np.ndarray]:
    """Trains one chunk of runs from the start or from the checkpoint."""
    sched = self.schedules[chunk[0][0]]
    n = len(chunk)
    n_pad = distributed.padded(n, self.mesh, programs.group)
    runs = programs.init_groups(chunk + [chunk[-1]] * (n_pad - n))
    if bool(self.state.in_chunk):
      saved = checkpoint.load_runs(self.ckpt_path, runs.first, n_pad, self.identity)
      runs = distributed.DeviceGroups.from_host(saved, self.mesh, programs.group, runs.first)
      rec = self.state.current
      self.log(f"{prefix} resuming at step {sched.pieces[int(rec.next_piece) - 1].end}")
    else:
      rec = ChunkRecords.fresh(n_pad, sched)
    if int(rec.next_piece) == 0:  # checkpoints come after pieces only
      rec.record_start(programs.evaluate(runs, data, "curve"))
    first = int(rec.next_piece)
    progress.done += n * (sched.pieces[first - 1].end if first > 0 else 0)
    names = [self.plan.conditions[ci].name for ci, _ in chunk]
    for p in range(first, len(sched.pieces)):
      piece = sched.pieces[p]
      programs.compiled(("piece", piece.segments), runs.first, data)  # compiled once
      if self.first_step_at is None:
        self.first_step_at = time.time()
      runs, out = programs.piece(runs, data, piece.segments)
      e = rec.record_piece(sched, p, out)  # one host sync a piece
      progress.update(n * (piece.end - piece.start), f"{prefix} step {piece.end}/{sched.total}",
                      rec.train_curve[:n, e], rec.eval_loss[:n, e])
      if self.writer:
        records.append_jsonl(self.metrics_path, {
            "group": g, "chunk": k, "step": piece.end, "runs": n, "conditions": names,
            "train_loss": rec.train_curve[:n, e], "eval_loss": rec.eval_loss[:n, e],
            "eval_metric": rec.eval_metric[:n, e]})
      self.state = self.state.replace(current=rec, in_chunk=np.array(True))
      if p < len(sched.pieces) - 1:
        stop = self.sigint is not None and self.sigint.hit
        if bool(distributed.broadcast_from_writer(int(stop))):  # process 0's signal decides
          self.save(runs, force=True)
          raise Interrupted()
        self.save(runs)
    final = programs.evaluate(runs, data, "final")
    ev, test = final["val"], final["test"]
    out = {name: getattr(rec, name)[:n] for name in
           ("train_steps", "train_curve", "eval_loss", "eval_metric", "diverged_step")}
    out.update(final_eval_loss=ev["loss"][:n], final_eval_metric=ev["metric"][:n],
               per_position=ev.get("per_position", np.zeros((n_pad, 0)))[:n],
               test_loss=test["loss"][:n], test_metric=test["metric"][:n],
               diverged=rec.diverged_step[:n] >= 0)
    return out

  def run(self) -> dict[int, dict[str, np.ndarray]]:
    """Trains every chunk not finished yet; returns the outputs per condition."""
    plan, cfg = self.plan, self.plan.config
    if not self.resume() and self.writer and os.path.exists(self.metrics_path):
      os.remove(self.metrics_path)
    total = sum(len(plan.layouts[i]["seed"]) * s.total for i, s in enumerate(self.schedules))
    exp = plan.experiments[0]
    progress = Progress(total, self.log, "val loss" if exp.lower_is_better else exp.score)
    with StopSignals() as self.sigint:
      for g, group in enumerate(plan.groups):
        bounds = self.state.bounds[str(g)]
        if bounds.size and int(self.state.done[g]) == len(bounds) - 1:
          progress.done += sum(len(plan.layouts[ci]["seed"]) * self.schedules[ci].total
                               for ci in group)
          continue  # finished before a resumption
        data = distributed.place(plan.experiments[group[0]].data,
                                 distributed.replicated(self.mesh))
        if int(self.state.at_once[g]) < 0:
          if bool(cfg.seed_group_timing):
            self.state.at_once[g], spent = seed_groups.choose(
                plan, g, self.mesh, data, group_runs(plan, g), self.log)
            self.compile_s += spent
          else:
            self.state.at_once[g] = distributed.seed_group(int(cfg.seed_group))
        programs = GroupPrograms(plan, group, self.mesh, int(self.state.at_once[g]))
        self.plan_chunks(g, programs, data)
        k = 0
        while k < self.state.num_chunks(g):
          chunk = self.state.chunk(plan, g, k)
          if k < int(self.state.done[g]):
            progress.done += sum(self.schedules[ci].total for ci, _ in chunk)
            k += 1
            continue
          prefix = (f"[group {g + 1}/{len(plan.groups)} chunk {k + 1}/"
                    f"{self.state.num_chunks(g)} {len(chunk)} runs]")
          try:
            out = self.train_chunk(g, k, programs, chunk, data, prefix, progress)
          except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
            if not _is_oom(e):
              raise
            if len(chunk) <= self.mesh.size * programs.group:  # smaller saves nothing
              raise ConfigError(
                  f"out of memory with one group of seed_group={programs.group} run(s) per "
                  "device; valid choices: a smaller --config.seed_group (a seed's result "
                  "depends on it)") from None
            self.split_after_oom(g, k, self.mesh.size * programs.group)
            self.state = self.state.replace(in_chunk=np.array(False))
            continue
          self.state.store(plan, chunk, out)
          self.state.done[g] += 1
          self.state = self.state.replace(in_chunk=np.array(False))
          self.save(force=True)
          k += 1
        self.compile_s += programs.compile_s
    return {ci: self.state.outputs[str(ci)] for ci in range(len(plan.conditions))}
