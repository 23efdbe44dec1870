"""Stateless initial states versus stateful carry on windowed forecasting.

  python -m experiments.seed_sweep --config=configs/stateful_forecast.py
  python -m experiments.seed_sweep --config=configs/stateful_forecast.py --config.task.overlap=0.5

Mackey-Glass cut into consecutive windows of 48 steps; the next value is
predicted at every step, so the loss per position within a window is defined.
With overlapping windows the carried state is the one after `stride` steps, so
the next window continues exactly where it starts.
"""

from configs import stateful
from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "stateful_forecast"
  config.num_seeds = 16
  config.sweep = stateful.get_config().sweep
  config.task.name = "forecast"
  config.task.series = "mackey_glass"
  config.task.series_length = 6000
  config.task.window = 48
  config.task.stream = True
  config.task.target = "all"
  config.task.windows_per_sequence = 8
  config.task.eval_rows = 2     # long evaluation rows: 9 consecutive windows each, as in training
  config.model.hidden_size = 32
  config.model.initial_state.noise_std = 0.3
  config.train.steps = 1000
  return config
