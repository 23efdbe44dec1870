"""Stateless initial states versus stateful carry on the character-level LM.

  python -m experiments.seed_sweep --config=configs/stateful_char_lm.py

Windows of 50 characters, 10 consecutive windows per sequence; the per-position
figure shows how much worse the first characters after a reset are.
"""

from configs import stateful
from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "stateful_char_lm"
  config.num_seeds = 8
  config.sweep = stateful.get_config().sweep
  config.task.name = "char_lm"
  config.task.window = 50
  config.task.windows_per_sequence = 10
  config.task.eval_rows = 16
  config.model.hidden_size = 128
  config.model.initial_state.noise_std = 0.3
  config.train.steps = 1000
  return config
