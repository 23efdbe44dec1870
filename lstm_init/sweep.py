"""A seed sweep: conditions x seeds, trained vmapped, recorded as it goes.

Usage:

  result = run_sweep(config, workdir, sweep=["model.init.preset=keras,pytorch"])

The plan (`lstm_init.plan`: conditions, groups, seeds, validation) comes
first; `lstm_init.runner` then trains each group's runs in jitted pieces of
`train.log_every` steps (validating inside them) and writes the records.
Conditions that differ only in values (initial parameters, learning rate,
noise std; `train.VALUE_FIELDS`) share one program; conditions that change
the program (task, sizes, optimizer, strategy, stateful) form groups that run
one after the other.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, Sequence

from lstm_init import runner
from lstm_init.plan import SweepPlan, plan_sweep
from lstm_init.runner import SweepResult


def default_workdir(config) -> str:
  return os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + f"-{config.name}")


def run_sweep(config, workdir: str | None = None, sweep: Sequence[str] | None = None,
              log: Callable[[str], None] = print, plan: SweepPlan | None = None,
              overwrite: bool = False, given: Mapping[str, Any] | None = None) -> SweepResult:
  """Runs every condition's seeds and writes the results into `workdir`.

  Args:
    config: the experiment config (see `lstm_init.config.base_config`).
    workdir: output folder; default a new dated folder under `runs/`.
    sweep: axes `path=v1,v2,...`; default `config.sweep`.
    log: where progress lines go.
    plan: a plan from `plan_sweep` (made here when None).
    overwrite: replace a workdir that holds another config's results.
    given: `--config.<path>` values from the command line (see `resolve_axes`).

  Returns:
    The rows of results.csv, the summary and the curves.
  """
  plan = plan or plan_sweep(config, sweep, given)
  workdir = workdir or default_workdir(config)
  return runner.execute(plan, workdir, log=log, overwrite=overwrite)
