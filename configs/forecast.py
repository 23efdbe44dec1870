"""Windowed forecasting: windows of 95 steps with 50% overlap, predict the next value.

  python -m experiments.seed_sweep --config=configs/forecast.py
  python -m experiments.seed_sweep --config=configs/forecast.py \
      --config.task.series=file --config.task.path=my_series.csv --config.task.column=1

The set-up researchers most often start from (a Keras LSTM on shuffled,
overlapping windows). Mackey-Glass by default; `noisy_sines` or a CSV/NPY file
of your own. Chronological train/val/test split 70/15/15.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "forecast"
  config.num_seeds = 16
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen",)
  config.task.name = "forecast"
  config.task.series = "mackey_glass"
  config.task.series_length = 4000
  config.task.window = 95
  config.task.overlap = 0.5
  config.task.target = "last"
  config.model.hidden_size = 32
  config.train.steps = 1000
  return config
