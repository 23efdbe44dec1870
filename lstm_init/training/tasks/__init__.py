"""Tasks by name. Each documents its metric, its no-learning baseline and its fields.

  task = make_task(config.task)        # config.task.name picks the TaskDef
  TASKS["adding"].fields               # the config.task fields it reads

A task is one module: its builder, `(config.task, eval key) -> Task`, and a
`TaskDef` naming it and declaring the `config.task` fields it reads
(`lstm_init.fields.Field`). Listing the `TaskDef` in `TASKS` below is all it
takes for the config schema (`base_config()`), the checks of a sweep (a value
for a field the task does not read is refused) and the docs' config reference
to know it.
"""

from __future__ import annotations

from lstm_init.core import keys
from lstm_init.errors import unknown
from lstm_init.training.tasks.base import Batch, Task, TaskDef
from lstm_init.training.tasks.char_lm import CHAR_LM
from lstm_init.training.tasks.digits import DIGITS
from lstm_init.training.tasks.forecast import FORECAST
from lstm_init.training.tasks.synthetic import ADDING, COPY, DELAYED_RECALL

TASKS: dict[str, TaskDef] = {t.name: t for t in (ADDING, COPY, DELAYED_RECALL, DIGITS, FORECAST,
                                                 CHAR_LM)}


def make_task(cfg) -> Task:
  """Builds the task `cfg.name` from its config section (`config.task`).

  Args:
    cfg: the `config.task` section; `name` picks the builder and `eval_seed`
      the evaluation data's key.

  Returns:
    The `Task`.

  Raises:
    ConfigError: for a name not in `TASKS` (or a bad setting of the task).
  """
  if cfg.name not in TASKS:
    raise unknown("task", cfg.name, TASKS)
  return TASKS[cfg.name].build(cfg, keys.eval_key(cfg.eval_seed))


def stateful_tasks() -> str:
  """The tasks stateful training can run on, in words (for one-line errors)."""
  return ", ".join(t.name + ("" if t.stateful == "always" else f" with {t.stateful}")
                   for t in TASKS.values() if t.stateful)


__all__ = ["Batch", "TASKS", "Task", "TaskDef", "make_task", "stateful_tasks"]
