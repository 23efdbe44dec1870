"""Summers & Dinneen 2021: one bit of one initial weight moves a run like a new seed.

  python -m experiments.seed_sweep --config=configs/papers/instability.py
  python -m experiments.seed_sweep --config=configs/papers/instability.py --config.scale=paper

Claim: runs identical in every random stream, except for a one-bit change of
one initial parameter, end up about as far apart as runs with different
seeds. Here (the default task: adding, T=30, 400 steps) two designs for two
presets:
  design=instability: 8 base seeds x 8 runs; run j > 0 of a base seed flips
    the least significant bit of one initial parameter, run 0 is the base
    (lstm_init.core.perturb). The one-way split gives the share of the variance a
    one-ulp change moves (instability) beside the share the seed decides.
  design=crossed: 8 init seeds x 8 data-order seeds, split into init, data
    and interaction shares.
The RL version is configs/papers/instability_a2c.py.

The paper's setting (ResNet-14 on CIFAR-10, 500 epochs) is not here: this is
its design on an LSTM. scale="cpu" (the default) is about a minute on 2 CPU
cores; scale="paper" is a larger setting of ours (32 x 32 grids, 4000 steps),
not the paper's.
"""

from lstm_init.engine.spec import base_config


def get_config():
  c = base_config()
  c.name = "instability"
  c.scale = "cpu"
  c.sweep = ("model.init.preset=keras,pytorch", "design=crossed,instability")
  c.num_seeds = 8               # instability: runs per base seed (run 0 unperturbed)
  c.num_base_seeds = 8
  c.num_init_seeds = 8
  c.num_data_seeds = 8
  c.task.name = "adding"
  c.task.length = 30
  c.model.hidden_size = 32
  c.train.steps = 400
  c.train.batch_size = 32
  c.train.learning_rate = 1e-2
  c.scales = {
      "cpu": {},
      "paper": {"num_seeds": 32, "num_base_seeds": 32, "num_init_seeds": 32,
                "num_data_seeds": 32, "train": {"steps": 4000, "log_every": 500}},
  }
  return c
