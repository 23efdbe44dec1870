"""The host loop of a sweep: condition groups, chunks of runs, pieces of steps.

  outputs = Loop(plan, workdir, log, hooks).run()   # per condition: arrays over seeds

Condition groups run one after another; a group's runs are cut into chunks
that fit in memory (`execute.memory`); a chunk trains piece by piece
(`execute.programs`). After each piece the loop fetches the piece's numbers
(its one host sync), hands them to its hooks (`execute.hooks`: progress,
metric writers), checks for Ctrl-C and checkpoints when its timer says so.
The whole position of the sweep is one `SweepState` (`execute.state`), which
is also what the checkpoint holds beside the chunk's run states.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from lstm_init.engine.execute import memory, placement, seed_group
from lstm_init.engine.execute import seed_group_timing as timing
from lstm_init.engine.execute.hooks import Clock, Every, Hook, PieceDone
from lstm_init.engine.execute.programs import ConditionGroupPrograms
from lstm_init.engine.execute.runs import group_runs
from lstm_init.engine.execute.signals import StopSignals
from lstm_init.engine.execute.state import ChunkRecords, SweepState
from lstm_init.engine.persist import checkpoint
from lstm_init.engine.persist.workdir import CHECKPOINT, Workdir
from lstm_init.engine.runtime import memory as device_memory
from lstm_init.engine.runtime import numerics, processes
from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.errors import Interrupted, OutOfMemory


class Checkpoints:
  """When and what the loop checkpoints, and resuming from it.

  Args:
    workdir: where `checkpoint.msgpack` goes (only process 0 writes).
    identity: the plan's identity, which the file must carry.
    every_s: seconds between checkpoints (0: after every piece).
    clock: seconds.
  """

  def __init__(self, workdir: Workdir, identity: dict, every_s: float, clock: Clock):
    self.workdir, self.identity = workdir, identity
    self.path = workdir.file(CHECKPOINT)
    self.timer = Every(every_s, clock)

  def check(self) -> None:
    """Refuses, with one line, a checkpoint that is damaged or of another plan."""
    if os.path.isfile(self.path):
      checkpoint.check(self.path, self.identity)

  def resume(self, fresh: SweepState) -> SweepState | None:
    """The saved sweep state, or None without a checkpoint."""
    if not os.path.isfile(self.path):
      return None
    return checkpoint.load_sweep(self.path, fresh, self.identity)

  def load_runs(self, template, n: int):
    """The chunk's saved run states ([n, ...] host arrays)."""
    return checkpoint.load_runs(self.path, template, n, self.identity)

  def save(self, state: SweepState, runs: placement.SeedGroups | None = None,
           force: bool = False) -> None:
    """Checkpoints the sweep state and the chunk's runs (when due, or `force`).
    Process 0's clock decides for every process, so all join the same gathers."""
    due = force or bool(processes.broadcast_from_writer(int(self.timer.due())))
    if not due:
      return
    gathered = None if runs is None else runs.fetch()  # every process joins the gather
    if processes.is_writer():
      self.workdir.save_checkpoint(checkpoint.encode(state, gathered, self.identity))
    self.timer.mark()


class Loop:
  """One sweep's execution: condition groups, chunks, pieces, checkpoints.

  Args:
    plan: the sweep.
    workdir: where the checkpoint goes.
    log: where lines go (memory, seed groups, resumption).
    hooks: called after each piece (progress, metric writers, ...).
    seed_groups: the seed group size of each condition group (default: the
      settings' rule; `experiments.reproduce` gives the recorded ones).
    clock: wall-clock seconds (`time.time`), for checkpoint timing and when
      training began.
  """

  def __init__(self, plan: SweepPlan, workdir: Workdir, log: Callable[[str], None],
               hooks: Sequence[Hook] = (), seed_groups: Sequence[int] | None = None,
               clock: Clock = time.time):
    self.plan, self.log, self.clock, self.hooks = plan, log, clock, list(hooks)
    self.mesh = placement.run_mesh(plan.settings.devices)
    self.checkpoints = Checkpoints(workdir, plan.identity, plan.settings.checkpoint_every_s,
                                   clock)
    self.state = SweepState.fresh(plan)
    if seed_groups is not None:
      self.state.seed_groups = np.array(seed_groups, int)
    self.sigint: StopSignals | None = None
    self.compile_s = 0.0  # over every condition group's programs
    self.seed_group_rule = ""  # how the memory rule chose the sizes (accelerators), in words
    self.first_step_at: float | None = None  # clock() when training began

  def resume(self) -> bool:
    """Restores the sweep state from the workdir's checkpoint, if there is one."""
    restored = self.checkpoints.resume(self.state)
    if restored is None:
      return False
    self.state = restored
    self.log(f"resuming from {self.checkpoints.path}: {int(self.state.done.sum())} chunk(s) of "
             "runs complete")
    return True

  # -- training --------------------------------------------------------------

  def run_chunk(self, g: int, k: int, programs: ConditionGroupPrograms, chunk, data,
                label: str) -> dict[str, np.ndarray]:
    """Trains one chunk of runs, from the start or from the checkpoint.

    Returns:
      The chunk's outputs (`execute.state.OUTPUTS`, [runs, ...] each).
    """
    sched = self.plan.conditions[chunk[0][0]].schedule
    n = len(chunk)
    padded = seed_group.pad_runs(chunk, self.mesh.size, programs.seed_group)
    runs = programs.init_groups(padded)
    if bool(self.state.in_chunk):
      saved = self.checkpoints.load_runs(runs.first, len(padded))
      runs = placement.SeedGroups.from_host(saved, self.mesh, programs.seed_group, runs.first)
      rec = self.state.current
      self.log(f"{label} resuming at step {sched.pieces[int(rec.next_piece) - 1].end}")
    else:
      rec = ChunkRecords.fresh(len(padded), sched)
    if int(rec.next_piece) == 0:  # checkpoints come after pieces only
      rec.record_start(programs.evaluate(runs, data, "curve"))
    first = int(rec.next_piece)
    for hook in self.hooks:
      hook.skip(n * (sched.pieces[first - 1].end if first > 0 else 0))
    names = [self.plan.conditions[ci].name for ci, _ in chunk]
    in_chunk = [ci for ci, _ in chunk]
    complete = [self.plan.conditions[ci].name for ci in dict.fromkeys(in_chunk)
                if in_chunk.count(ci) == len(self.plan.layouts[ci]["seed"])]
    for p in range(first, len(sched.pieces)):
      piece = sched.pieces[p]
      programs.compiled(("piece", piece.segments), runs.first, data)  # compiled once
      if self.first_step_at is None:
        self.first_step_at = self.clock()
      runs, out = programs.piece(runs, data, piece.segments)  # the piece's one host sync
      e = rec.record_piece(sched, p, out)
      shown = range(0 if p == 0 else piece.first_eval, e + 1)
      curves = {"steps": [sched.evals[i] for i in shown], "complete": complete,
                **{name: getattr(rec, attr)[:n, shown.start:shown.stop] for name, attr in
                   (("train_loss", "train_curve"), ("eval_loss", "eval_loss"),
                    ("eval_metric", "eval_metric"))}}
      event = PieceDone(g, k, piece.end, sched.total, names, n * (piece.end - piece.start),
                        label, rec.train_curve[:n, e], rec.eval_loss[:n, e],
                        rec.eval_metric[:n, e], curves)
      for hook in self.hooks:
        hook.on_piece(event)
      self.state.current, self.state.in_chunk = rec, np.array(True)
      if p < len(sched.pieces) - 1:
        stop = self.sigint is not None and self.sigint.hit
        if bool(processes.broadcast_from_writer(int(stop))):  # process 0's signal decides
          self.checkpoints.save(self.state, runs, force=True)
          raise Interrupted("a stop signal came")
        self.checkpoints.save(self.state, runs)
    return rec.outputs(programs.evaluate(runs, data, "final"), n)

  def run(self) -> dict[int, dict[str, np.ndarray]]:
    """Trains every chunk not finished yet; returns the outputs per condition.

    Raises:
      Interrupted: on SIGINT or SIGTERM, after the piece in training finished
        and a checkpoint was written.
      OutOfMemory: when a chunk of one seed group per device does not fit.
    """
    try:
      with StopSignals() as self.sigint:
        for g in range(len(self.plan.groups)):
          self._run_group(g)
    finally:
      for hook in self.hooks:
        hook.close()
    return {ci: self.state.outputs[str(ci)] for ci in range(len(self.plan.conditions))}

  def _seed_group(self, g: int, data) -> int:
    """Condition group g's seed group size: recorded, given, the rule, or timed."""
    if int(self.state.seed_groups[g]) < 0:
      s = self.plan.settings
      if s.seed_group_timing:
        self.state.seed_groups[g], spent = timing.choose(
            self.plan, g, self.mesh, data, group_runs(self.plan, g), self.log)
        self.compile_s += spent
      elif s.seed_group < 1 and seed_group.platform() != "cpu":
        self.state.seed_groups[g] = self._fitting_seed_group(g, data)
      else:
        self.state.seed_groups[g] = seed_group.fixed_size(s.seed_group)
    return int(self.state.seed_groups[g])

  def _fitting_seed_group(self, g: int, data) -> int:
    """On an accelerator: the largest power of two up to 1024 whose programs fit
    the device's memory by XLA's analysis (never a timing)."""
    plan, group = self.plan, self.plan.groups[g]
    segments = plan.conditions[group[0]].schedule.pieces[0].segments
    run0 = group_runs(plan, g)[0]

    def need(n: int) -> tuple[int, int]:
      programs = ConditionGroupPrograms(plan, group, self.mesh, n)
      return programs.run_bytes(programs.abstract_group(run0), data, segments)

    # The device's own limit, not memory_budget_gb (which may change on resumption):
    # the size is a function of the command and the kind of device.
    budget = device_memory.group_budget(None, device_memory.device_memory(self.mesh.devices.flat[0]))
    size = device_memory.largest_fitting_group(need, budget)
    self.seed_group_rule = device_memory.describe_group_rule(size, budget)
    self.log(f"seed_group: {self.seed_group_rule}")
    return size

  def _run_group(self, g: int) -> None:
    plan, state = self.plan, self.state
    group = plan.groups[g]
    skip = lambda seed_steps: [h.skip(seed_steps) for h in self.hooks]
    bounds = state.bounds[str(g)]
    if bounds.size and int(state.done[g]) == len(bounds) - 1:  # finished before a resumption
      skip(sum(len(plan.layouts[ci]["seed"]) * plan.conditions[ci].schedule.total
               for ci in group))
      return
    data = processes.place(plan.experiments[group[0]].data, placement.replicated(self.mesh))
    programs = ConditionGroupPrograms(plan, group, self.mesh, self._seed_group(g, data))
    if not state.bounds[str(g)].size:
      state.bounds[str(g)] = memory.plan_bounds(plan, g, programs, data, self.mesh, self.log)
    k = 0
    while k < state.num_chunks(g):
      chunk = state.chunk(plan, g, k)
      if k < int(state.done[g]):
        skip(sum(plan.conditions[ci].schedule.total for ci, _ in chunk))
        k += 1
        continue
      label = (f"[group {g + 1}/{len(plan.groups)} chunk {k + 1}/"
               f"{state.num_chunks(g)} {len(chunk)} runs]")
      try:
        out = self.run_chunk(g, k, programs, chunk, data, label)
      except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
        if not memory.is_oom(e):
          raise
        unit = self.mesh.size * programs.seed_group
        if len(chunk) <= unit:  # smaller saves nothing
          raise OutOfMemory(
              f"out of memory with one seed group of seed_group={programs.seed_group} run(s) "
              "per device; valid choices: a smaller --config.seed_group (a seed's result "
              "depends on it), or smaller sizes") from None
        state.bounds[str(g)] = memory.split_after_oom(state.bounds[str(g)], k, unit, self.log)
        state.in_chunk = np.array(False)
        continue
      state.store(plan, chunk, out)
      state.done[g] += 1
      state.in_chunk = np.array(False)
      self.checkpoints.save(state, force=True)
      k += 1
    self.compile_s += programs.compile_s
