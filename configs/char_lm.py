"""Character-level language model on Python's documentation topics (no download).

  python -m experiments.seed_sweep --config=configs/char_lm.py
  python -m experiments.seed_sweep --config=configs/char_lm.py --config.task.path=my.txt

Metric: bits per character on held-out text (uniform baseline log2(97) = 6.6).
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "char_lm"
  config.num_seeds = 8
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen",)
  config.task.name = "char_lm"
  config.task.window = 50
  config.task.windows_per_sequence = 10
  config.task.eval_rows = 16
  config.model.hidden_size = 128
  config.train.steps = 1000
  config.train.batch_size = 32
  return config
