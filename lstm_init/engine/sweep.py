"""A seed sweep: conditions x seeds, trained vmapped, recorded as it goes.

  result = run_sweep(config, workdir, sweep=["model.init.preset=keras,pytorch"])

One direction: the plan (`engine.spec`: conditions, condition groups, seeds,
experiments, validation), then the host loop over compiled programs
(`engine.execute`), then the outputs, written once into the workdir
(`engine.persist`). The report is the entry point's next step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from typing import Any, Callable, Mapping, Sequence

from lstm_init import dotted, records
from lstm_init.engine.execute import memory, seed_group
from lstm_init.engine.execute.hooks import Hook, MetricsLog, ProgressBar, ProgressLines
from lstm_init.engine.execute.loop import Loop
from lstm_init.engine.execute.runs import split_conditions
from lstm_init.engine.persist import outputs as outputs_lib
from lstm_init.engine.persist import writers as writers_lib
from lstm_init.engine.persist.record import comparable, config_record
from lstm_init.engine.persist.workdir import CURVES, RESULTS, SUMMARY, Workdir, partial_rows
from lstm_init.engine.runtime import early_stop, numerics, processes
from lstm_init.engine.spec.plan import SweepPlan, plan_sweep
from lstm_init.errors import ConfigError, Interrupted
from lstm_init.report.results import SweepResults, load_results
from lstm_init.report.summary import summary_table


def default_workdir(plan: SweepPlan, name: str | None = None) -> str:
  """runs/<name>-<12 hex digits of what the plan runs>: the same folder for the
  same command (so that it resumes), another for any change that changes a run.

  Args:
    plan: the sweep's plan (its identity and its conditions' values).
    name: the folder's name before the digest (default: the sweep's name).

  Returns:
    The relative path.
  """
  what = json.dumps([plan.identity, [c.overrides for c in plan.conditions]], sort_keys=True,
                    default=str)
  digest = hashlib.sha256(what.encode()).hexdigest()[:12]
  return os.path.join("runs", f"{name or plan.settings.name}-{digest}")


def finished(workdir: str, plan: SweepPlan) -> bool:
  """Whether `workdir` already holds this sweep's final results."""
  wd = Workdir(workdir)
  if not all(wd.exists(n) for n in (RESULTS, CURVES, SUMMARY)):
    return False
  old = wd.recorded()
  return old is not None and comparable(old) == comparable(config_record(plan))


def collapsed_line(plan: SweepPlan) -> str:
  """One line: which requested combinations are copies of which condition."""
  into: dict[str, list[str]] = {}
  for asked, kept in plan.collapsed.items():
    into.setdefault(kept, []).append(asked)
  return ("requested combinations that differ only in values with no effect, trained once: "
          + "; ".join(f"{', '.join(asked)} -> {kept}" for kept, asked in into.items()))


def describe_dry_run(plan: SweepPlan, workdir: str) -> str:
  """What a sweep would do, for `--dry_run`: conditions, runs, seed groups, workdir."""
  rule = seed_group.rule_record(plan.settings.seed_group, plan.settings.seed_group_timing,
                                len(plan.groups))
  lines = [outputs_lib.describe_plan(plan)]
  if plan.collapsed:
    lines.append(collapsed_line(plan))
  lines += [f"  {plan.runs():,} runs, {plan.seed_steps():,} seed-steps; seed groups: "
            f"{rule['seed_group_rule']}",
            f"  workdir: {workdir}" + (" (finished: it holds this sweep's results)"
                                      if finished(workdir, plan) else ""),
            "dry run: nothing was trained or written"]
  return "\n".join(lines)


def run_sweep(config, workdir: str | None = None, sweep: Sequence[str] | None = None,
              log: Callable[[str], None] = print, plan: SweepPlan | None = None,
              overwrite: bool = False, given: Mapping[str, Any] | None = None,
              hooks: Sequence[Hook] = (), progress: str = "lines") -> SweepResults:
  """Runs every condition's seeds and writes the results into `workdir`.

  Args:
    config: the experiment config (see `lstm_init.engine.spec.base_config`).
    workdir: the output folder (None: `default_workdir(plan)`).
    sweep: axes `path=v1,v2,...`; default `config.sweep`.
    log: where progress lines go.
    plan: a plan from `plan_sweep` (made here when None).
    overwrite: move aside the records of another sweep in `workdir`.
    given: `--config.<path>` values from the command line (see `resolve_axes`).
    hooks: more loop hooks (`execute.hooks.Hook`), called after each piece.
    progress: "lines" (the command line's) or "bar" (`tqdm.auto`, a notebook's).

  Returns:
    The finished sweep as `SweepResults` (rows, summary, curves, the config
    record and the environment): what `load_results(workdir)` reads back.

  Raises:
    ConfigError: for bad input, before anything is written.
    Interrupted: on SIGINT or SIGTERM, once the checkpoint and the partial
      results are written (the same call resumes).
    OutOfMemory: when one seed group per device does not fit.
  """
  started = time.time()
  processes.initialize()
  plan = plan or plan_sweep(config, sweep, given)
  # Processes of several: the same sweep, or one line on each, before any collective.
  processes.check_same_plan(plan.identity, dotted.flatten(plan.config.to_dict()))
  planned = time.time()
  workdir = workdir or default_workdir(plan)
  # Process 0 decides for every process (the others may not see its files).
  if not overwrite and processes.broadcast_from_writer(int(finished(workdir, plan))):
    log(f"{workdir} is finished: it holds this sweep's results; nothing to train (--overwrite "
        "trains it again)")
    return load_results(workdir)
  writer = processes.is_writer()
  writers_lib.check_writers(plan.settings.writers)
  memory.check_record_size(plan)
  for note in plan.notes:
    log(note)
  if plan.collapsed:
    log(collapsed_line(plan))
  precision = {"precision": plan.settings.precision}
  env = {**records.environment(numerics.record(precision)), **seed_group.rule_record(
      plan.settings.seed_group, plan.settings.seed_group_timing, len(plan.groups))}
  log(numerics.describe(numerics.settings_for(seed_group.platform(), precision)))
  if not writer:
    log = lambda s: None  # process 0 speaks for every process
  wd = Workdir(workdir)
  record = config_record(plan)
  loop = Loop(plan, wd, log)
  # One live process writes a workdir (process 0 of a multi-process run).
  with wd.locked(log) if writer else contextlib.nullcontext():
    if writer:
      wd.prepare(record, overwrite, log)
    loop.checkpoints.check()  # damaged or foreign: refused before anything is written
    if writer:
      wd.write_config(record)
      wd.write_environment(env)
    log(outputs_lib.describe_plan(plan))
    resumed = loop.resume()
    if writer and not resumed:
      wd.clear_metrics()
    loop.hooks = loop_hooks(loop, wd, log, progress, writer) + list(hooks)
    try:
      with numerics.precision_scope(precision):
        outputs = loop.run()
    except Interrupted:
      path = wd.write_partial(partial_rows(plan, loop.state)) if writer else ""
      raise Interrupted(f"interrupted: checkpoint written to {loop.checkpoints.path} and "
                        f"partial results to {path}; run the same command again to "
                        "resume") from None
    trained = time.time()
    rows = outputs_lib.result_rows(plan, outputs)
    curves = outputs_lib.curve_arrays(plan, outputs, [c.schedule.evals for c in plan.conditions])
    summary = outputs_lib.summarize(plan, rows, curves)
    if writer:
      wd.write_results(rows, outputs_lib.result_columns(plan), curves, summary)
      late = [plan.conditions[ci].name for ci in split_conditions(plan, loop.state.bounds)]
      wd.write_finals(plan.settings.writers, rows, curves, late)
    log(summary_table(summary))
    env["timings"] = timings(started, planned, trained, loop)
    env["seed_groups"] = [int(g) for g in loop.state.seed_groups]  # per group, as they ran
    if loop.seed_group_rule:  # decided by the programs' memory (accelerators)
      env["seed_group_rule"] = loop.seed_group_rule
    log(describe_timings(env["timings"]))
    if writer:
      wd.write_environment(env)
    return SweepResults(workdir, rows, summary, curves, record, env)


def loop_hooks(loop: Loop, wd: Workdir, log: Callable[[str], None], progress: str,
               writer: bool) -> list[Hook]:
  """The progress (lines, or a bar in a notebook) and, on the writing process,
  the metric writers (`config.writers`) as hooks of the loop."""
  total, exp = loop.plan.seed_steps(), loop.plan.experiments[0]
  score = "val loss" if exp.lower_is_better else exp.score
  out: list[Hook] = [TrainingPhase(),
                     ProgressBar(total, score) if progress == "bar" and writer
                     else ProgressLines(total, log, score, loop.clock)]
  if writer:
    out.append(MetricsLog(wd.metric_writers(loop.plan.settings.writers)))
  return out


class TrainingPhase(Hook):
  """Tells `runtime.early_stop` when the loop has trained a piece (a stop signal
  is then the loop's: it checkpoints) and when it stopped (a signal ends the
  process at once again)."""

  def on_piece(self, event) -> None:
    early_stop.training_began()

  def close(self) -> None:
    early_stop.training_ended()


def timings(started: float, planned: float, trained: float, loop: Loop) -> dict[str, Any]:
  """Where the time went, in seconds; `*_at_s` count from the process start
  (from `run_sweep`'s start where the process start is unknown)."""
  origin = records.process_start_time() or started
  first = loop.first_step_at or trained
  return {"startup_s": started - origin, "plan_s": planned - started,
          "compile_s": loop.compile_s, "time_to_first_step_s": first - origin,
          "training_s": trained - first, "outputs_s": time.time() - trained,
          "total_s": time.time() - origin}


def describe_timings(t: dict[str, Any]) -> str:
  """`timings`' numbers as the log's one line."""
  return (f"time: {t['total_s']:.1f} s in all; first training step at {t['time_to_first_step_s']:.1f}"
          f" s (start-up {t['startup_s']:.1f} s, plan {t['plan_s']:.1f} s, compile "
          f"{t['compile_s']:.1f} s), training {t['training_s']:.1f} s, outputs "
          f"{t['outputs_s']:.1f} s")
