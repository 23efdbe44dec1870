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
steps; scale="paper": T in {100, 200, 300, 500}, 40 units, RMSProp 1e-3,
clipping at 1, batch 20, 20000 iterations.
"""

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
      # The paper: LSTM of 40 units, RMSProp 1e-3 (decay 0.9), gradients clipped at 1;
      # batch 20 and 20000 iterations are its code's defaults (memory_problem.py).
      "paper": {"num_seeds": 8, "sweep": ("task.delay=100,200,300,500",),
                "model": {"hidden_size": 40},
                "train": {"steps": 20000, "log_every": 2000, "optimizer": "rmsprop",
                          "learning_rate": 1e-3, "batch_size": 20, "clip_norm": 1.0}},
  }
  return c
