"""Sequential 8x8 digits from scikit-learn (real data, no download).

  python -m experiments.seed_sweep --config=configs/digits.py
  python -m experiments.seed_sweep --config=configs/digits.py --config.task.mode=pixel \
      --config.task.permuted=True

Row by row (8 steps) by default; pixel by pixel is 64 steps and much harder.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "digits"
  config.num_seeds = 16
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen",)
  config.task.name = "digits"
  config.task.mode = "row"
  config.task.eval_size = 250
  config.model.hidden_size = 64
  config.train.steps = 1000
  config.train.batch_size = 64
  return config
