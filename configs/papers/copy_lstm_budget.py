"""Arjovsky, Shah & Bengio 2016: the copy task's LSTM at the figures' budget.

  python -m experiments.seed_sweep --config=configs/papers/copy_lstm_budget.py
  python -m experiments.seed_sweep --config=configs/papers/copy_lstm_budget.py --config.scale=paper

The paper (section "Copying memory problem"): an LSTM of 40 units, RMSProp
with learning rate 1e-3 and decay 0.9, gradients clipped at 1; its figures run
to 1,000k training examples, 50,000 iterations at batch 20. "The LSTM is able
to beat the baseline only for 100 times steps". Read off its figures: at
T = 100 the LSTM sits at the baseline 10 log 8 / 120 = 0.173 until about 200k
examples, then moves below it (about 0.145 at 1M); at T = 200 it dips to about
0.09 between 200k and 350k examples and ends at the baseline 0.0945.

The LSTM follows the authors' code (models.py, memory_problem.py in
amarshah/complex_RNN): Glorot-uniform on each gate's input (10, 40) and
recurrent (40, 40) matrix, written here as uniform limits sqrt(6/50) and
sqrt(6/80); zero biases but the forget bias 1; a learned initial state
starting at zero. What differs: gradients are clipped by their global norm
here (theirs elementwise, T.clip(g, -1, 1)); their LSTM has an output-gate
peephole; their RMSProp starts its average at 1e-3 with no epsilon (optax: 0
and 1e-8); they train on a fixed set of 100,000 sequences where every batch
here is freshly drawn; their output has 9 classes (here 10: the delimiter is
a class too).

scale="cpu" (the default): T = 100 and 200, 3 seeds, 12,000 iterations
(240k examples); scale="paper": 50,000 iterations, 8 seeds.
"""

import math

from lstm_init.engine.spec import base_config

INPUT, HIDDEN = 10, 40
INPUT_LIMIT = math.sqrt(6.0 / (INPUT + HIDDEN))
RECURRENT_LIMIT = math.sqrt(6.0 / (2 * HIDDEN))


def get_config():
  c = base_config()
  c.name = "copy_lstm_budget"
  c.scale = "cpu"
  c.num_seeds = 3
  c.sweep = ("task.delay=100,200",)
  c.task.name = "copy"
  c.model.hidden_size = HIDDEN
  c.model.init.preset = "keras"  # zero biases, forget bias 1
  c.model.init.input_kernel = f"uniform:{INPUT_LIMIT:.6f}"
  c.model.init.recurrent_kernel = f"uniform:{RECURRENT_LIMIT:.6f}"
  c.model.initial_state.strategy = "learned"
  c.train.steps = 12000
  c.train.batch_size = 20
  c.train.optimizer = "rmsprop"
  c.train.learning_rate = 1e-3
  c.train.clip_norm = 1.0        # global norm (the authors clip each element at 1)
  c.train.log_every = 2000
  c.train.eval_every = 250
  c.scales = {
      "cpu": {},
      "paper": {"num_seeds": 8,
                "train": {"steps": 50000, "log_every": 5000, "eval_every": 500}},
  }
  return c
