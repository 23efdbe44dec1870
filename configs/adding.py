"""Adding problem, T=100: every framework preset plus chrono, 32 seeds each.

  python -m experiments.seed_sweep --config=configs/adding.py
  python -m experiments.seed_sweep --config=configs/adding.py --config.task.length=200 \
      --sweep=model.init.preset=keras,chrono --sweep=model.init.forget_bias=0,1

Long adding problems are where the forget-gate bias and chrono initialization
matter most (Jozefowicz et al. 2015; Tallec and Ollivier 2018).
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "adding"
  config.num_seeds = 32
  config.sweep = ("model.init.preset=keras,tf1,pytorch,flax_linen,flax_nnx,haiku,equinox,chrono",)
  config.task.name = "adding"
  config.task.length = 100
  config.model.hidden_size = 64
  config.model.init.t_max = 100.0
  config.train.steps = 2000
  config.train.log_every = 200
  config.train.learning_rate = 3e-3
  return config
