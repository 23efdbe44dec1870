"""Summers & Dinneen 2021 in reinforcement learning: recurrent A2C on CartPole-v1.

  python -m experiments.seed_sweep --config=configs/papers/instability_a2c.py

The design of configs/papers/instability.py on configs/a2c_cartpole.py's
setting, Keras preset: 8 base seeds x 8 runs, each run but the first of a
base seed one bit away from it in one initial parameter of the actor or the
critic; scored by the mean greedy return. In RL a rounding difference changes
an action, then a trajectory, so chaos is expected to be larger than in
supervised training.

scale="cpu" (the default) takes a few minutes on 2 CPU cores; scale="paper"
uses 32 x 32.
"""

from configs import a2c_cartpole


def get_config():
  c = a2c_cartpole.get_config()
  c.name = "instability_a2c"
  c.scale = "cpu"
  c.sweep = ("model.init.preset=keras",)
  c.design = "instability"
  c.num_seeds = 8
  c.num_base_seeds = 8
  c.scales = {"cpu": {}, "paper": {"num_seeds": 32, "num_base_seeds": 32}}
  return c
