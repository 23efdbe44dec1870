"""Tallec & Ollivier 2018: chrono initialization speeds up the adding task.

  python -m experiments.seed_sweep --config=configs/papers/chrono_adding.py
  python -m experiments.seed_sweep --config=configs/papers/chrono_adding.py --config.scale=paper
  python -m lstm_init.studies.steps_to_threshold <workdir> --threshold=0.01

The paper (arXiv 1804.11188, section 3, adding task): LSTMs of 128 units,
RMSprop with learning rate 1e-3 and moving average 0.9, no gradient clipping;
the "standard initialization" sets the forget biases to 1, chrono uses
T_max = T; "for all T's, chrono initialization significantly speeds up
learning. Notably it converges 7 times faster for T = 750" (T = 200 and 750
are plotted). It states neither the batch size nor the weight initializers.

Here the standard LSTM is the Keras preset (b_f = 1, glorot_uniform input and
orthogonal recurrent kernels) and chrono keeps the same kernels, so the two
differ only in the gate biases. Steps to a threshold per seed (MSE 0.01; the
memoryless baseline is 0.167) are read from the learning curves
(`lstm_init.studies.steps_to_threshold`), with their ratio.

scale="cpu" (the default): T = 200, 1000 iterations, 8 seeds, batch 32;
scale="paper": T = 750, T_max = 750, 5000 iterations.
"""

from lstm_init.engine.spec import base_config

THRESHOLD = 0.01   # validation MSE that counts as learned (baseline 1/6)


def get_config():
  c = base_config()
  c.name = "chrono_adding"
  c.scale = "cpu"
  c.num_seeds = 8
  c.sweep = ("model.init.preset=keras,chrono",)
  c.task.name = "adding"
  c.task.length = 200
  c.task.eval_size = 256
  c.model.hidden_size = 128
  c.model.init.t_max = 200.0    # T_max = T (give --config.model.init.t_max with a new T)
  c.train.steps = 1000
  c.train.batch_size = 32       # not stated in the paper
  c.train.optimizer = "rmsprop"  # optax.scale_by_rms: moving average 0.9
  c.train.learning_rate = 1e-3
  c.train.clip_norm = 0.0       # the paper: no gradient clipping
  c.train.log_every = 250
  c.train.eval_every = 25
  c.train.curve_rows = 0        # learning curves on the whole validation set
  c.scales = {
      "cpu": {},
      "paper": {"task": {"length": 750}, "model": {"init": {"t_max": 750.0}},
                "train": {"steps": 5000, "log_every": 1000, "eval_every": 50}},
  }
  return c
