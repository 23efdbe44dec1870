"""Recurrent A2C with a Gaussian policy on Pendulum-v1: log-std fixed per state or not.

  python -m experiments.seed_sweep --config=configs/a2c_pendulum.py
  # 2 CPU cores: 1 min 52 s the first time (2 programs)

The continuous-action case of the original question ("how can I ensure that
mu and sigma during the loss computation match the ones during prediction?"):
the loss replays the rollout through the LSTM from the state it started with,
so the Gaussian's mean and log-std in the loss are those the actions were drawn
from (tests/test_rl.py checks the log-densities to 1e-6). Two conditions: a
state-independent log-std (one learned vector) and a state-dependent one (a
second head), 8 seeds each, keras preset. Every episode is 200 steps and ends
in truncation, bootstrapped from V(final observation). The score is the mean
return of 16 deterministic episodes (the policy's mean); -1200 to -1500 is a
policy that does nothing useful, above -200 swings the pendulum up and holds it.
Measured: median -206 (state-independent) and -262 (state-dependent); every
seed but one reaches -200 at some point, many do not hold it.
"""

from lstm_init.engine.spec import base_config
from lstm_init.training.rl.a2c import rl_config


def get_config():
  c = base_config()
  c.name = "a2c_pendulum"
  c.experiment = "a2c"
  c.num_seeds = 8
  c.sweep = ("rl.log_std=state_independent,state_dependent",)
  # Fixed, not measured (-1): in RL a rounding difference between group sizes grows
  # into another trajectory, so a measured choice could change a seed's outcome.
  c.seed_group = 4
  c.rl = rl_config()
  c.rl.env = "Pendulum-v1"
  c.rl.num_envs = 16
  c.rl.rollout_len = 20
  c.rl.normalize_advantages = True
  c.rl.reward_scale = 0.1
  c.rl.entropy_coef = 0.0
  c.rl.gamma = 0.95              # 0.99 learned nothing in 500k steps; 0.95 swings it up
  c.rl.eval_episodes = 16
  c.rl.curve_episodes = 8
  c.model.hidden_size = 32
  c.train.learning_rate = 1e-3
  c.train.clip_norm = 0.5
  c.train.steps = 4000           # 4000 x 320 = 1.28M environment steps per run
  c.train.eval_every = 200
  c.train.log_every = 1000
  return c
