"""Delayed recall y_t = x_(t-d) over a stream of windows (stateless training).

  python -m experiments.seed_sweep --config=configs/delayed_recall.py
  python -m experiments.seed_sweep --config=configs/delayed_recall.py --config.task.delay=10

See configs/stateful.py for the comparison with state carried across windows.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "delayed_recall"
  config.num_seeds = 16
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen",)
  config.task.name = "delayed_recall"
  config.task.delay = 5
  config.task.window = 20
  config.task.windows_per_sequence = 10
  config.model.hidden_size = 32
  config.train.steps = 1000
  return config
