"""Default sweep: three frameworks' default LSTM initializations on the adding problem.

  python -m experiments.seed_sweep
  python -m experiments.seed_sweep --config.num_seeds=64 --config.task.length=100

Keras, PyTorch and Flax linen initialize the same LSTM differently (input
weights, fused versus per-gate orthogonal recurrent weights, forget bias).
32 seeds each on the adding problem show how much that changes training, and
how much luck alone changes it.
"""

from lstm_init.engine.spec import base_config


def get_config():
  config = base_config()
  config.name = "default"
  config.num_seeds = 32
  config.sweep = ("model.init.preset=keras,pytorch,flax_linen",)
  config.task.name = "adding"
  config.task.length = 30
  config.model.hidden_size = 32
  config.train.steps = 400
  config.train.batch_size = 32
  config.train.learning_rate = 1e-2
  return config
