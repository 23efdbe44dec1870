"""Arjovsky, Shah & Bengio 2016: on the adding problem the LSTM beats the
baseline and a tanh RNN does not.

  python -m experiments.seed_sweep --config=configs/papers/adding_lstm_tanh.py
  python -m experiments.seed_sweep --config=configs/papers/adding_lstm_tanh.py --config.scale=paper

The paper (section "Adding Problem"): 128 hidden units for the tanh RNN and the
LSTM, RMSProp with learning rate 1e-3 and decay 0.9, gradients clipped at 1,
batch sizes 20 and 50 (the best reported); "The LSTM and uRNN models are able
to convincingly beat the baseline up to T=400 time steps", "The RNN with tanh
and IRNN were not able to beat the baseline for any number of time steps"
(T = 100, 200, 400 and 750 are plotted). In its figure for T = 100 the LSTM
is near MSE 0.01 by about 5,000 steps, and the tanh RNN stays at 0.167
through 30,000.

The models follow the authors' code (models.py in amarshah/complex_RNN):
every weight matrix, gate by gate, Glorot-uniform on its own shape, written
here as uniform limits for I = 2, H = 128 (input sqrt(6/(I+H)), recurrent
sqrt(6/(2H)); recompute them for another size); zero biases except the
LSTM's forget bias 1 (the Keras preset's); a learned initial state starting
at zero. What differs from that code: gradients are clipped by their global
norm here (theirs: elementwise, T.clip(g, -1, 1)); their LSTM has an
output-gate peephole; their RMSProp starts its average at 1e-3 with no
epsilon (optax: 0 and 1e-8); they train on a fixed set of 100,000 sequences
where every batch here is freshly drawn.

scale="cpu" (the default): T = 100, batch 20, 5 seeds, 5000 steps;
scale="paper": T = 100, 200 and 400, 30,000 steps (the figures' range), 8 seeds.
"""

import math

from lstm_init.engine.spec import base_config

INPUT, HIDDEN = 2, 128
# Glorot-uniform on each of the authors' matrices: W (I, H) and U (H, H) per gate.
INPUT_LIMIT = math.sqrt(6.0 / (INPUT + HIDDEN))
RECURRENT_LIMIT = math.sqrt(6.0 / (2 * HIDDEN))


def get_config():
  c = base_config()
  c.name = "adding_lstm_tanh"
  c.scale = "cpu"
  c.num_seeds = 5
  c.sweep = ("model.cell=lstm,rnn_tanh",)
  c.task.name = "adding"
  c.task.length = 100
  c.task.eval_size = 256
  c.model.hidden_size = HIDDEN
  c.model.init.preset = "keras"  # zero biases; the LSTM's forget bias 1
  c.model.init.input_kernel = f"uniform:{INPUT_LIMIT:.6f}"
  c.model.init.recurrent_kernel = f"uniform:{RECURRENT_LIMIT:.6f}"
  c.model.initial_state.strategy = "learned"
  c.train.steps = 5000
  c.train.batch_size = 20
  c.train.optimizer = "rmsprop"  # optax.scale_by_rms: decay 0.9
  c.train.learning_rate = 1e-3
  c.train.clip_norm = 1.0        # global norm (the authors clip each element at 1)
  c.train.log_every = 500
  c.train.eval_every = 50
  c.train.curve_rows = 0        # learning curves on the whole validation set
  c.scales = {
      "cpu": {},
      "paper": {"num_seeds": 8,
                "sweep": ("task.length=100,200,400", "model.cell=lstm,rnn_tanh"),
                "train": {"steps": 30000, "log_every": 3000, "eval_every": 250}},
  }
  return c
