"""Is the best seed real? 48 seeds of one configuration, the best retrained 16 times.

  python -m experiments.best_seed --config=configs/best_seed.py
  python -m experiments.best_seed --config=configs/best_seed.py --config.task.name=digits

Keras' default initialization on the adding problem (as in the default sweep).
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "best_seed"
  config.num_seeds = 48
  config.retrain_data_seeds = 16
  config.task.name = "adding"
  config.task.length = 30
  config.model.hidden_size = 32
  config.train.steps = 400
  config.train.learning_rate = 1e-2
  return config
