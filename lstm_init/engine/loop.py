"""The host loop of a sweep: chunks of runs, pieces of steps, hooks, checkpoints.

  outputs = Loop(plan, workdir, log).run()   # per condition: arrays over seeds

Groups run one after another; a group's runs are cut into chunks that fit in
memory (`engine.chunks`); a chunk trains piece by piece (`engine.programs`).
After each piece the loop fetches the piece's numbers (its one host sync),
hands them to its hooks (`engine.hooks`: progress lines, `metrics.jsonl`),
checks for Ctrl-C and checkpoints when `Every` says so. The whole position of
the sweep is one `SweepState` (`engine.state`), which is also what the
checkpoint holds beside the chunk's run states.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from lstm_init.engine import checkpoint, chunks, device_groups, distributed
from lstm_init.engine import seed_groups as timing
from lstm_init.engine.hooks import (Clock, Every, Hook, MetricsLog, PieceDone, ProgressBar,
                                   ProgressLines)
from lstm_init.engine.plan import SweepPlan
from lstm_init.engine.programs import GroupPrograms, schedule_of
from lstm_init.engine.runs import group_runs, plan_identity
from lstm_init.engine.signals import Interrupted, StopSignals
from lstm_init.engine.state import ChunkRecords, SweepState
from lstm_init.engine.writers import JsonlWriter
from lstm_init.errors import ConfigError

CHECKPOINT = "checkpoint.msgpack"


class Loop:
  """One sweep's execution: chunk sizes, programs, hooks, checkpoints, records.

  Args:
    plan: the sweep.
    workdir: where the checkpoint and `metrics.jsonl` go.
    log: where lines go (progress, memory, resumption).
    seed_groups: runs per vmapped group for each group of `plan` (default:
      from the config's rule; `experiments.reproduce` gives the recorded ones).
    clock: wall-clock seconds (`time.time`), for progress, checkpoint timing
      and when training began.
    hooks: more hooks, called after each piece after the built-in ones.
    progress: "lines" (`hooks.ProgressLines`) or "bar" (`hooks.ProgressBar`, a
      notebook's).
  """

  def __init__(self, plan: SweepPlan, workdir: str, log: Callable[[str], None],
               seed_groups: list[int] | None = None, clock: Clock = time.time,
               hooks: Sequence[Hook] = (), progress: str = "lines"):
    self.plan, self.workdir, self.log, self.clock = plan, workdir, log, clock
    cfg = plan.config
    self.mesh = distributed.run_mesh(int(cfg.devices))
    self.writer = distributed.is_writer()
    self.ckpt_path = os.path.join(workdir, CHECKPOINT)
    self.ckpt_timer = Every(float(cfg.checkpoint_every_s), clock)
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.schedules = [schedule_of(c.config) for c in plan.conditions]
    self.identity = plan_identity(plan, self.schedules)
    self.state = SweepState.fresh(plan)
    if seed_groups is not None:
      self.state.seed_groups = np.array(seed_groups, int)
    self.extra_hooks = list(hooks)
    self.progress = progress
    self.sigint: StopSignals | None = None
    self.compile_s = 0.0  # over every group's programs
    self.first_step_at: float | None = None  # clock() when training began

  # -- checkpoints -----------------------------------------------------------

  def check_size(self) -> None:
    """Refuses, before training, records that cannot fit in host memory."""
    chunks.check_record_size(self.plan, self.schedules)

  def check_checkpoint(self) -> None:
    """Refuses, with one line, a checkpoint in the workdir that is damaged or was
    written by another plan (before anything in the workdir is written)."""
    if os.path.isfile(self.ckpt_path):
      checkpoint.check(self.ckpt_path, self.identity)

  def resume(self) -> bool:
    """Restores the sweep state from the workdir's checkpoint, if there is one."""
    if not os.path.isfile(self.ckpt_path):
      return False
    self.state = checkpoint.load_sweep(self.ckpt_path, self.state, self.identity)
    self.log(f"resuming from {self.ckpt_path}: {int(self.state.done.sum())} chunk(s) of runs "
             "complete")
    return True

  def save(self, runs: device_groups.DeviceGroups | None = None, force: bool = False) -> None:
    """Checkpoints the sweep state and the chunk's runs (when the timer says so,
    or `force`). Process 0's clock decides for every process, so all of them
    join the same gathers."""
    due = force or bool(distributed.broadcast_from_writer(int(self.ckpt_timer.due())))
    if not due:
      return
    gathered = None if runs is None else runs.fetch()  # every process joins the gather
    if self.writer:
      checkpoint.save(self.ckpt_path, self.state, gathered, self.identity)
    self.ckpt_timer.mark()

  # -- training --------------------------------------------------------------

  def run_chunk(self, g: int, k: int, programs: GroupPrograms, chunk, data, label: str,
                hooks: Sequence[Hook]) -> dict[str, np.ndarray]:
    """Trains one chunk of runs, from the start or from the checkpoint.

    Returns:
      The chunk's outputs (`engine.state.OUTPUTS`, [runs, ...] each).
    """
    sched = self.schedules[chunk[0][0]]
    n = len(chunk)
    n_pad = distributed.padded(n, self.mesh, programs.seed_group)
    runs = programs.init_groups(chunk + [chunk[-1]] * (n_pad - n))
    if bool(self.state.in_chunk):
      saved = checkpoint.load_runs(self.ckpt_path, runs.first, n_pad, self.identity)
      runs = device_groups.DeviceGroups.from_host(saved, self.mesh, programs.seed_group, runs.first)
      rec = self.state.current
      self.log(f"{label} resuming at step {sched.pieces[int(rec.next_piece) - 1].end}")
    else:
      rec = ChunkRecords.fresh(n_pad, sched)
    if int(rec.next_piece) == 0:  # checkpoints come after pieces only
      rec.record_start(programs.evaluate(runs, data, "curve"))
    first = int(rec.next_piece)
    for hook in hooks:
      hook.skip(n * (sched.pieces[first - 1].end if first > 0 else 0))
    names = [self.plan.conditions[ci].name for ci, _ in chunk]
    for p in range(first, len(sched.pieces)):
      piece = sched.pieces[p]
      programs.compiled(("piece", piece.segments), runs.first, data)  # compiled once
      if self.first_step_at is None:
        self.first_step_at = self.clock()
      runs, out = programs.piece(runs, data, piece.segments)  # the piece's one host sync
      e = rec.record_piece(sched, p, out)
      event = PieceDone(g, k, piece.end, sched.total, names, n * (piece.end - piece.start),
                        label, rec.train_curve[:n, e], rec.eval_loss[:n, e],
                        rec.eval_metric[:n, e])
      for hook in hooks:
        hook.on_piece(event)
      self.state.current, self.state.in_chunk = rec, np.array(True)
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

  def hooks(self) -> list[Hook]:
    """The progress (lines or a bar), `metrics.jsonl` (the writing process only),
    then the given hooks."""
    out: list[Hook] = [
        ProgressBar(self.total_seed_steps(), self.score_name()) if self.progress == "bar" and self.writer
        else ProgressLines(self.total_seed_steps(), self.log, self.score_name(), self.clock)]
    if self.writer:
      out.append(MetricsLog(JsonlWriter(self.metrics_path)))
    return out + self.extra_hooks

  def total_seed_steps(self) -> int:
    """Runs x training steps of the whole sweep."""
    return sum(len(self.plan.layouts[i]["seed"]) * s.total for i, s in enumerate(self.schedules))

  def score_name(self) -> str:
    """What the progress shows of the validation ("val loss", or the score's name)."""
    exp = self.plan.experiments[0]
    return "val loss" if exp.lower_is_better else exp.score

  def run(self) -> dict[int, dict[str, np.ndarray]]:
    """Trains every chunk not finished yet; returns the outputs per condition."""
    if not self.resume() and self.writer and os.path.exists(self.metrics_path):
      os.remove(self.metrics_path)
    hooks = self.hooks()
    try:
      return self._run(hooks)
    finally:
      for hook in hooks:
        hook.close()

  def _run(self, hooks: Sequence[Hook]) -> dict[int, dict[str, np.ndarray]]:
    """`run`'s groups and chunks, with the hooks made."""
    plan, cfg = self.plan, self.plan.config
    skip = lambda seed_steps: [h.skip(seed_steps) for h in hooks]
    with StopSignals() as self.sigint:
      for g, group in enumerate(plan.groups):
        bounds = self.state.bounds[str(g)]
        if bounds.size and int(self.state.done[g]) == len(bounds) - 1:
          skip(sum(len(plan.layouts[ci]["seed"]) * self.schedules[ci].total for ci in group))
          continue  # finished before a resumption
        data = distributed.place(plan.experiments[group[0]].data,
                                 distributed.replicated(self.mesh))
        if int(self.state.seed_groups[g]) < 0:
          if bool(cfg.seed_group_timing):
            self.state.seed_groups[g], spent = timing.choose(
                plan, g, self.mesh, data, group_runs(plan, g), self.log)
            self.compile_s += spent
          else:
            self.state.seed_groups[g] = distributed.seed_group(int(cfg.seed_group))
        programs = GroupPrograms(plan, group, self.mesh, int(self.state.seed_groups[g]))
        if not self.state.bounds[str(g)].size:
          self.state.bounds[str(g)] = chunks.plan_bounds(
              plan, g, programs, data, self.mesh, self.schedules[group[0]], self.log)
        k = 0
        while k < self.state.num_chunks(g):
          chunk = self.state.chunk(plan, g, k)
          if k < int(self.state.done[g]):
            skip(sum(self.schedules[ci].total for ci, _ in chunk))
            k += 1
            continue
          label = (f"[group {g + 1}/{len(plan.groups)} chunk {k + 1}/"
                   f"{self.state.num_chunks(g)} {len(chunk)} runs]")
          try:
            out = self.run_chunk(g, k, programs, chunk, data, label, hooks)
          except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
            if not chunks.is_oom(e):
              raise
            unit = self.mesh.size * programs.seed_group
            if len(chunk) <= unit:  # smaller saves nothing
              raise ConfigError(
                  f"out of memory with one group of seed_group={programs.seed_group} run(s) per "
                  "device; valid choices: a smaller --config.seed_group (a seed's result "
                  "depends on it)") from None
            self.state.bounds[str(g)] = chunks.split_after_oom(
                self.state.bounds[str(g)], k, unit, self.log)
            self.state.in_chunk = np.array(False)
            continue
          self.state.store(plan, chunk, out)
          self.state.done[g] += 1
          self.state.in_chunk = np.array(False)
          self.save(force=True)
          k += 1
        self.compile_s += programs.compile_s
    return {ci: self.state.outputs[str(ci)] for ci in range(len(plan.conditions))}
