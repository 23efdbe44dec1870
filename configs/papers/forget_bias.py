"""Jozefowicz, Zaremba & Sutskever 2015: a forget-gate bias of 1 helps the LSTM.

  python -m experiments.seed_sweep --config=configs/papers/forget_bias.py
  python -m experiments.seed_sweep --config=configs/papers/forget_bias.py --config.scale=paper

Claim: initializing the forget gate's bias to 1 (rather than 0) closes most
of the gap between the LSTM and the GRU, everything else equal. Here: the
same Keras-initialized LSTM with forget bias 0 and 1, on two tasks (the
adding problem and a character-level language model on the shipped text),
everything else equal (seeds included).

The paper's own tasks (arithmetic, XML modelling, Penn Treebank) are not
here; its setting and numbers are known to this project second hand (a
summary of the paper, not its text). scale="cpu" (the default) is about 4
minutes on 2 CPU cores; scale="paper" is a larger setting of ours (2 layers
of 256 units, T = 200, 20,000 steps, 16 seeds), not the paper's.
"""

from lstm_init.engine.spec import base_config


def get_config():
  c = base_config()
  c.name = "forget_bias"
  c.scale = "cpu"
  c.num_seeds = 8
  c.sweep = ("task.name=adding,char_lm", "model.init.forget_bias=0.0,1.0")
  c.model.init.preset = "keras"
  c.task.length = 100           # adding
  c.task.window = 50            # char_lm: 10 windows of 50 characters per sequence
  c.task.windows_per_sequence = 10
  c.task.eval_rows = 16
  c.model.hidden_size = 64
  c.train.steps = 1500
  c.train.log_every = 500
  c.train.learning_rate = 3e-3
  c.scales = {
      "cpu": {},
      "paper": {"num_seeds": 16, "model": {"hidden_size": 256, "num_layers": 2},
                "task": {"length": 200},
                "train": {"steps": 20000, "log_every": 2000}},
  }
  return c
