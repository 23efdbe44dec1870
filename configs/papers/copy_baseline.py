"""Arjovsky, Shah & Bengio 2016: a standard LSTM sits at the copy task's baseline.

  python -m experiments.seed_sweep --config=configs/papers/copy_baseline.py
  python -m experiments.seed_sweep --config=configs/papers/copy_baseline.py --config.scale=paper

Claim: on the copy memory problem the memoryless strategy (blanks, then a
uniform guess over the 8 symbols) scores 10 log(8) / (T + 20) nats per step,
and a standard LSTM stays at that baseline for long delays T. The sweep
walks T up to find where the standard (Keras-initialized) LSTM stops leaving
the baseline within a fixed budget.

The paper: "The LSTM is able to beat the baseline only for 100 time steps";
at T = 200, 300 and 500 it stays at the memoryless cost.

scale="cpu" (the default): T in {10, 25, 50, 100, 200}, 64 units, 3000 Adam
steps. scale="paper": T in {100, 200, 300, 500} with the paper's LSTM of 40
units, RMSProp 1e-3, clipping at 1, batch 20, and its figures' budget: 50,000
iterations (1M training examples). The batch 20 and the 20,000 iterations in
the authors' memory_problem.py are `default=` values of positional argparse
arguments, so they never apply; the figures' x axis is what fixes the budget.
The LSTM follows the authors' code as configs/papers/copy_lstm_budget.py
describes (per-gate Glorot-uniform weights, forget bias 1, learned initial
state); what still differs: global-norm clipping (theirs elementwise), no
output-gate peephole, optax's RMSProp (average from 0, epsilon 1e-8; theirs
from 1e-3, none), fresh batches (theirs a fixed set of 100,000), 10 output
classes (theirs 9).
"""

from configs.papers.copy_lstm_budget import AUTHORS_LSTM, BATCH, FIGURE_EXAMPLES
from lstm_init.engine.spec import base_config


def get_config():
  c = base_config()
  c.name = "copy_baseline"
  c.scale = "cpu"
  c.num_seeds = 6
  c.sweep = ("task.delay=10,25,50,100,200",)
  c.task.name = "copy"
  c.model.hidden_size = 64
  c.model.init.preset = "keras"
  c.train.steps = 3000
  c.train.log_every = 500
  c.train.learning_rate = 3e-3
  c.scales = {
      "cpu": {},
      # The paper: LSTM of 40 units, RMSProp 1e-3 (decay 0.9), gradients clipped at 1,
      # figures to 1M training examples: 50,000 iterations of 20.
      "paper": {"num_seeds": 8, "sweep": ("task.delay=100,200,300,500",),
                "model": AUTHORS_LSTM["model"],
                "train": {**AUTHORS_LSTM["train"], "steps": FIGURE_EXAMPLES // BATCH,
                          "log_every": 5000}},
  }
  return c
