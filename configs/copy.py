"""Copy memory with delay T=30 (Arjovsky et al. 2016): presets compared.

  python -m experiments.seed_sweep --config=configs/copy.py
  python -m experiments.seed_sweep --config=configs/copy.py --config.task.delay=100

Baseline: the memoryless 10 log(8) / (T + 20) nats per step; accuracy is
scored on the 10 recall steps (chance 1/8).
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "copy"
  config.num_seeds = 16
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen,chrono",)
  config.task.name = "copy"
  config.task.delay = 30
  config.model.hidden_size = 64
  config.model.init.t_max = 50.0
  config.train.steps = 2000
  config.train.log_every = 200
  config.train.learning_rate = 3e-3
  return config
