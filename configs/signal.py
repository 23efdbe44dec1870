"""Signal propagation at initialization: every preset, 32 seeds, T = 200.

  python -m experiments.signal_propagation --config=configs/signal.py
  python -m experiments.signal_propagation --config=configs/signal.py --config.model.num_layers=2

Inputs are adding-problem sequences of 200 steps; hidden size 64.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "signal"
  config.num_seeds = 32
  config.task.name = "adding"
  config.task.length = 200
  config.task.eval_size = 64
  config.model.hidden_size = 64
  config.model.init.t_max = 200.0
  return config
