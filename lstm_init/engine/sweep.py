"""A seed sweep: conditions x seeds, trained vmapped, recorded as it goes.

  result = run_sweep(config, workdir, sweep=["model.init.preset=keras,pytorch"])

One direction: the plan (`lstm_init.engine.plan`: conditions, groups, seeds,
experiments, validation), then the programs and the host loop
(`lstm_init.engine.loop` over `lstm_init.engine.programs`), then the outputs, written once
(`lstm_init.engine.outputs`). Conditions that differ only in values (initial
parameters, learning rate, noise std) share one program; conditions that
change the program (task, sizes, optimizer, strategy, stateful) form groups
that run one after the other. The report is the entry point's next step.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, Mapping, Sequence

import jax

from lstm_init import records
from lstm_init.engine import distributed, outputs as outputs_lib
from lstm_init.engine import writers as writers_lib
from lstm_init.report.results import SweepResults
from lstm_init.report.summary import summary_table
from lstm_init.errors import ConfigError
from lstm_init.engine.hooks import Hook
from lstm_init.engine.loop import Loop
from lstm_init.engine.signals import Interrupted
from lstm_init.engine.plan import SweepPlan, plan_sweep
from lstm_init.engine.workdir import config_record, locked, prepare_workdir, write_partial


def default_workdir(config) -> str:
  """runs/<date>-<time>-<config.name>."""
  return os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + f"-{config.name}")


def run_sweep(config, workdir: str | None = None, sweep: Sequence[str] | None = None,
              log: Callable[[str], None] = print, plan: SweepPlan | None = None,
              overwrite: bool = False, given: Mapping[str, Any] | None = None,
              hooks: Sequence[Hook] = (), progress: str = "lines") -> SweepResults:
  """Runs every condition's seeds and writes the results into `workdir`.

  Args:
    config: the experiment config (see `lstm_init.engine.config.base_config`).
    workdir: output folder; default a new dated folder under `runs/`.
    sweep: axes `path=v1,v2,...`; default `config.sweep`.
    log: where progress lines go.
    plan: a plan from `plan_sweep` (made here when None).
    overwrite: replace a workdir that holds another config's results.
    given: `--config.<path>` values from the command line (see `resolve_axes`).
    hooks: more loop hooks (`engine.hooks.Hook`), called after each piece.
    progress: "lines" (the command line's) or "bar" (`tqdm.auto`, a notebook's).

  Returns:
    The finished sweep as `SweepResults` (rows, summary, curves, the config
    record and the environment): what `load_results(workdir)` reads back.
  """
  started = time.time()
  distributed.initialize()
  plan = plan or plan_sweep(config, sweep, given)
  planned = time.time()
  workdir = workdir or default_workdir(config)
  writer = distributed.is_writer()
  metric_writers = writers_lib.parse_writers(plan.config.writers)
  if "tensorboard" in metric_writers:
    writers_lib.require_tensorboard()
  for note in plan.notes:
    log(note)
  env = records.environment()
  env.update(seed_group_record(plan.config, len(plan.groups)))
  if not writer:
    log = lambda s: None  # process 0 speaks for every process
  loop = Loop(plan, workdir, log, hooks=hooks, progress=progress)
  loop.check_size()
  # One live process writes a workdir (process 0 of a multi-process run).
  with locked(workdir, log) if writer else contextlib.nullcontext():
    if writer:
      record = config_record(plan)
      prepare_workdir(workdir, record, overwrite)
    loop.check_checkpoint()  # a damaged or foreign checkpoint: refused before anything is written
    if writer:
      records.write_json(os.path.join(workdir, "config.json"), record)
      records.write_json(os.path.join(workdir, "environment.json"), env)
    log(outputs_lib.describe_plan(plan))
    try:
      outputs = loop.run()
    except Interrupted:
      path = write_partial(workdir, plan, loop.state) if writer else ""
      raise ConfigError(f"interrupted: checkpoint written to {loop.ckpt_path} and partial "
                        f"results to {path}; run the same command again to resume") from None
    trained = time.time()
    rows = outputs_lib.result_rows(plan, outputs)
    curves = outputs_lib.curve_arrays(plan, outputs, [s.evals for s in loop.schedules])
    summary = outputs_lib.summarize(plan, rows, curves)
    if writer:
      outputs_lib.write(workdir, plan, rows, curves, summary)
    if writer and "tensorboard" in metric_writers:
      writers_lib.write_curves(curves, rows, os.path.join(workdir, "tensorboard"))
    log(summary_table(summary))
    env["timings"] = timings(started, planned, trained, loop)
    env["seed_groups"] = [int(g) for g in loop.state.seed_groups]  # per group, as they ran
    log(describe_timings(env["timings"]))
    if writer:
      records.write_json(os.path.join(workdir, "environment.json"), env)
    record = config_record(plan) if not writer else record
    return SweepResults(workdir, rows, summary, curves, record, env)


def seed_group_record(config, num_groups: int) -> dict[str, Any]:
  """How many runs computed together per device, per group, and by which rule
  (`seed_groups` is None until a timed choice is made)."""
  setting = int(config.seed_group)
  if bool(config.seed_group_timing):
    return {"seed_groups": None, "seed_group_rule": "timed (per-seed results depend on it)"}
  size = distributed.seed_group(setting)
  rule = (f"given (seed_group={setting})" if setting >= 1 else
          f"the backend's fixed size ({jax.default_backend()}: {size})")
  return {"seed_groups": [size] * num_groups, "seed_group_rule": rule}


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
