"""Summers & Dinneen 2021 carried to reinforcement learning (an extension: the
paper trains ResNet-14 on CIFAR-10): recurrent A2C on CartPole-v1.

  python -m experiments.seed_sweep --config=configs/papers/instability_a2c.py

The design of configs/papers/instability.py on configs/a2c_cartpole.py's
setting, Keras preset: 8 base seeds x 8 runs, each run but the first of a
base seed one bit away from it in one initial parameter of the actor or the
critic; scored by the mean greedy return. In RL a rounding difference changes
an action, then a trajectory, so chaos is expected to be larger than in
supervised training.

The budget is 500 updates (128k environment steps), below the return ceiling:
at a2c_cartpole.py's 2000 updates every base run ends at the cap of 500, so
the spread between base seeds is truncated to 0 and the instability share is
1 by construction. At 500 updates most runs are still learning (measured:
median return about 150, a few runs at 500).

scale="cpu" (the default) takes about a minute on 2 CPU cores; scale="paper"
is a larger grid of ours, 32 x 32 (not a setting of the paper).
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
  c.train.steps = 500           # below the ceiling (see the docstring)
  c.scales = {"cpu": {}, "paper": {"num_seeds": 32, "num_base_seeds": 32}}
  return c
