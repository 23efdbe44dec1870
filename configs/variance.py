"""How much of the spread is initialization, and how much data order?

  python -m experiments.seed_sweep --config=configs/variance.py
  python -m experiments.seed_sweep --config=configs/variance.py \
      --config.num_init_seeds=16 --config.num_data_seeds=16 --config.task.name=digits

A crossed grid of 12 initialization seeds x 12 data-order seeds (144 runs of
one condition, all in one vmapped program). The init stream follows the init
seed; data order, dropout and state noise follow the data seed. The report
splits the variance of the final loss into init, data and interaction shares
(two-way random-effects ANOVA, bootstrap intervals); summary.json holds them.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "variance"
  config.design = "crossed"
  config.num_init_seeds = 12
  config.num_data_seeds = 12
  config.task.name = "adding"
  config.task.length = 30
  config.model.hidden_size = 32
  config.train.steps = 400
  config.train.learning_rate = 1e-2
  return config
