"""Tasks by name. Each documents its metric and its no-learning baseline.

  make_task(config.task) -> Task
"""

from __future__ import annotations

from lstm_init.core import keys
from lstm_init.errors import unknown
from lstm_init.training.tasks.base import Batch, Task, metric_value
from lstm_init.training.tasks.char_lm import make_char_lm
from lstm_init.training.tasks.digits import make_digits
from lstm_init.training.tasks.forecast import make_forecast
from lstm_init.training.tasks.synthetic import make_adding, make_copy, make_delayed_recall

TASKS = {
    "adding": make_adding,
    "copy": make_copy,
    "delayed_recall": make_delayed_recall,
    "digits": make_digits,
    "forecast": make_forecast,
    "char_lm": make_char_lm,
}


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
  return TASKS[cfg.name](cfg, keys.eval_key(cfg.eval_seed))


__all__ = ["Batch", "TASKS", "Task", "make_task", "metric_value"]
