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
starting at zero (`AUTHORS_LSTM`). What differs: gradients are clipped by
their global norm here (theirs elementwise, T.clip(g, -1, 1)); their LSTM has
an output-gate peephole; their RMSProp starts its average at 1e-3 with no
epsilon (optax: 0 and 1e-8); they train on a fixed set of 100,000 sequences
where every batch here is freshly drawn; their output has 9 classes (here 10:
the delimiter is a class too).

scale="cpu" (the default): T = 100 and 200, 3 seeds, 15,000 iterations of 20
(300k examples); scale="paper": 50,000 iterations (1M examples), 8 seeds.
"""

import math

from lstm_init.engine.spec import base_config

INPUT, HIDDEN, BATCH = 10, 40, 20
FIGURE_EXAMPLES = 1_000_000   # the figures' x axis: training examples
# The authors' LSTM and optimizer, as this tool can write them (see the docstring).
AUTHORS_LSTM = {
    "model": {"hidden_size": HIDDEN,
              "init": {"preset": "keras",  # zero biases, forget bias 1
                       "input_kernel": f"uniform:{math.sqrt(6.0 / (INPUT + HIDDEN)):.6f}",
                       "recurrent_kernel": f"uniform:{math.sqrt(6.0 / (2 * HIDDEN)):.6f}"},
              "initial_state": {"strategy": "learned"}},
    "train": {"batch_size": BATCH, "optimizer": "rmsprop", "learning_rate": 1e-3,
              "clip_norm": 1.0},   # global norm (the authors clip each element at 1)
}


def get_config():
  c = base_config()
  c.name = "copy_lstm_budget"
  c.scale = "cpu"
  c.num_seeds = 3
  c.sweep = ("task.delay=100,200",)
  c.task.name = "copy"
  c.model.hidden_size = HIDDEN
  c.model.init.preset = AUTHORS_LSTM["model"]["init"]["preset"]
  c.model.init.input_kernel = AUTHORS_LSTM["model"]["init"]["input_kernel"]
  c.model.init.recurrent_kernel = AUTHORS_LSTM["model"]["init"]["recurrent_kernel"]
  c.model.initial_state.strategy = "learned"
  for name, value in AUTHORS_LSTM["train"].items():
    c.train[name] = value
  c.train.steps = 15000
  c.train.log_every = 2500
  c.train.eval_every = 250
  c.scales = {
      "cpu": {},
      "paper": {"num_seeds": 8,
                "train": {"steps": FIGURE_EXAMPLES // BATCH, "log_every": 5000,
                          "eval_every": 500}},
  }
  return c
