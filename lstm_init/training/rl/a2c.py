"""Recurrent A2C on gymnax environments, as an experiment of the sweep engine.

  python -m experiments.seed_sweep --config=configs/a2c_cartpole.py

One training step is one update: `rl.num_envs` environments step
`rl.rollout_len` times inside `lax.scan`, then the A2C loss
(`lstm_init.training.rl.loss`) updates the actor-critic (`lstm_init.training.rl.agent`) with
the project's optimizer (`lstm_init.training.optim`). The LSTM state and the
environments carry over from one rollout to the next; where an episode ends,
the next step starts from the initial-state strategy's carry (a reset mask, as
in stateful training). No gradient crosses a rollout's start (truncated BPTT).

The loss replays the rollout: it runs the LSTM again from the carry the
rollout started with, through the same resets (the same noise keys), so the
log-probabilities it differentiates are those of the actions actually taken:
for a Gaussian policy, the mean and std of the loss equal those the actions
were sampled from (`tests/test_rl.py` checks it to 1e-6).

A run's keys (`lstm_init.core.keys`): "init" draws the parameters, "data" the
environments' resets and steps and the sampled actions, "noise" the noisy
initial states; each rollout step folds in its global step number. So
`fixed_streams="data"` and the crossed design split a return's variance into
the initialization's share and the experience's.

A truncated episode (a time limit, not a terminal state) is bootstrapped: the
reward of its last step gets gamma * V(final observation). A terminated one
is not.

Evaluation is deterministic: `rl.eval_episodes` whole episodes with greedy
actions (the mean for a Gaussian), environments drawn from the fixed key
`rl.eval_seed`, the same for every run. Its score is the mean return (higher
is better); its metric is the mean return, or the success rate on
MemoryChain.

This module reads and validates the config (`make_a2c`, `make_experiment`);
the training state and its functions are `lstm_init.training.rl.learner`.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from lstm_init import fields
from lstm_init.training import model as model_lib
from lstm_init.training import optim
from lstm_init.core import perturb, initial_states
from lstm_init.errors import ConfigError, unknown
from lstm_init.training.experiment import Experiment
from lstm_init.training.rl.agent import AgentSpec
from lstm_init.training.rl.envs import ENVS, make_env
# Re-exported: `a2c.A2C` and `a2c.A2CState` stay importable from here.
from lstm_init.training.rl.learner import A2C, A2CState, RL_VALUES  # noqa: F401

HEADS = ("auto", "categorical", "gaussian")
LOG_STDS = ("state_independent", "state_dependent")
CRITICS = ("separate", "shared")
VALUE_FIELDS = tuple(optim.HYPERPARAMS.values()) + tuple(f"rl.{k}" for k in RL_VALUES) + (
    "model.initial_state.noise_std", "model.initial_state.value")
READS = ("rl.", "model.hidden_size", "model.num_layers", "model.impl", "model.residual",
         "model.residual_scale", "model.init.", "model.initial_state.", "train.optimizer",
         "train.learning_rate", "train.momentum", "train.weight_decay", "train.clip_norm",
         "train.schedule", "train.decay_rate", "train.decay_steps", "train.warmup_steps",
         "train.divergence_threshold")


_NON_NEGATIVE = fields.at_least(0)
# The `config.rl` section: A2C as in Mnih et al. 2016.
FIELDS = (
    fields.Field("env", "CartPole-v1", "the gymnax environment", choices=ENVS),
    fields.Field("memory_length", 5, "MemoryChain: steps between the context and the query",
                 used_when=(lambda c: c.rl.env == "MemoryChain-bsuite",
                            "rl.env=MemoryChain-bsuite")),
    fields.Field("num_envs", 16, "environments per run, stepped together", fields.at_least(1)),
    fields.Field("rollout_len", 16, "steps per update (0 = one episode: MemoryChain's "
                 "memory_length + 1, so BPTT reaches back to the context)",
                 fields.Valid(lambda v: v >= 0, ">= 1, or 0 for one episode")),
    fields.Field("gamma", 0.99, "the discount", fields.in_range(0, 1, closed=True)),
    fields.Field("gae_lambda", 0.95, "GAE's lambda", fields.in_range(0, 1, closed=True)),
    fields.Field("value_coef", 0.5, "the value loss's weight", _NON_NEGATIVE),
    fields.Field("entropy_coef", 0.01, "the entropy bonus's weight", _NON_NEGATIVE),
    fields.Field("normalize_advantages", False, "divide the advantages by their std in each "
                 "update"),
    fields.Field("reward_scale", 1.0, "rewards are multiplied by this in training only",
                 _NON_NEGATIVE),
    fields.Field("head", "auto", "the policy: auto (the action space's), categorical, gaussian",
                 choices=HEADS),
    fields.Field("log_std", "state_independent", "gaussian: state_independent or "
                 "state_dependent", choices=LOG_STDS),
    fields.Field("log_std_init", 0.0, "gaussian: the initial log std"),
    fields.Field("critic", "separate", "separate (its own LSTM) or shared (a head on the "
                 "actor's)", choices=CRITICS),
    fields.Field("policy_scale", 0.01, "the policy head's init is model.init.readout times this",
                 _NON_NEGATIVE),
    fields.Field("eval_episodes", 16, "whole greedy episodes per evaluation", fields.at_least(1)),
    fields.Field("curve_episodes", 8, "episodes per learning-curve point", fields.at_least(1)),
    fields.Field("eval_seed", 0, "the evaluation environments' key, the same for every run"),
)


def rl_config() -> ml_collections.ConfigDict:
  """The `config.rl` section with its defaults (`FIELDS`).

  Returns:
    A fresh ConfigDict (env, sizes, A2C coefficients, head, evaluation).
  """
  return fields.to_config(FIELDS)


def _check(r) -> None:
  for name, value, valid in (("head", r.head, HEADS), ("log_std", r.log_std, LOG_STDS),
                             ("critic", r.critic, CRITICS)):
    if value not in valid:
      raise unknown(f"rl.{name}", value, valid)


def make_a2c(config) -> A2C:
  """The frozen spec of a config's A2C training (validated; one-line errors).

  Args:
    config: a whole config with an `rl` section (`rl_config`), `model` and `train`.
  Returns:
    The `A2C`.
  Raises:
    ConfigError: for a missing or bad `rl` section or model setting.
  """
  if "rl" not in config:
    raise ConfigError("experiment 'a2c' needs a config.rl section; valid choices: "
                      "configs/a2c_cartpole.py, configs/a2c_memory.py, configs/a2c_pendulum.py "
                      "or a config with c.rl = lstm_init.training.rl.a2c.rl_config()")
  r, m = config.rl, config.model
  _check(r)
  model_lib.check_model_config(m)
  env = make_env(r.env, int(r.memory_length))
  head = r.head if r.head != "auto" else ("categorical" if env.discrete else "gaussian")
  if (head == "categorical") != env.discrete:
    raise ConfigError(f"rl.head {head!r} does not fit {env.name}'s "
                      f"{'discrete' if env.discrete else 'continuous'} actions; valid choices: "
                      f"auto, {'categorical' if env.discrete else 'gaussian'}")
  strategy = m.initial_state.strategy
  initial_states.check_strategy(strategy)
  agent = AgentSpec(
      obs_size=env.obs_size, action_size=env.action_size, discrete=env.discrete,
      hidden_size=int(m.hidden_size), num_layers=int(m.num_layers), preset=m.init.preset,
      overrides=tuple(sorted(model_lib.init_overrides(m.init).items())),
      head_init=m.init.readout, policy_scale=float(r.policy_scale), log_std=r.log_std,
      log_std_init=float(r.log_std_init), critic=r.critic,
      # In RL the state always carries over; "carried" starts episodes from zeros.
      strategy="zeros" if strategy == "carried" else strategy, impl=m.impl,
      residual=bool(m.residual), residual_scale=m.residual_scale)
  rollout_len = int(r.rollout_len)
  if rollout_len == 0:
    if env.name != "MemoryChain-bsuite":
      raise ConfigError(f"rl.rollout_len=0 (one episode) needs episodes of one length; "
                        f"{env.name}'s vary; valid choices: a number of steps >= 1, or 0 with "
                        "MemoryChain-bsuite")
    rollout_len = env.episode_steps
  opt_spec = optim.OptimizerSpec.of(config.train)
  if opt_spec.lr_scaling != "none":
    raise ConfigError(f"train.lr_scaling={opt_spec.lr_scaling!r}: the per-layer learning rates "
                      "name the supervised LSTM's parameters, not the actor-critic's; valid "
                      "choices with experiment=a2c: train.lr_scaling=none")
  return A2C(env=env, agent=agent, optimizer=opt_spec, tx=optim.optimizer(opt_spec),
             num_envs=int(r.num_envs), rollout_len=rollout_len,
             normalize_advantages=bool(r.normalize_advantages),
             reward_scale=float(r.reward_scale), eval_episodes=int(r.eval_episodes),
             curve_episodes=int(r.curve_episodes), eval_seed=int(r.eval_seed),
             divergence_threshold=float(config.train.divergence_threshold))


def run_values(config) -> dict[str, float]:
  """A run's numbers: the optimizer's, the initial state's and `RL_VALUES`.

  Args:
    config: a whole config (`train`, `model.initial_state`, `rl`).
  Returns:
    {name: float}, the `values` of `init`: the optimizer's hyperparameters,
    "noise_std", "state_value" and each of `RL_VALUES`.
  """
  return {**optim.config_hyperparams(config.train),
          "noise_std": float(config.model.initial_state.noise_std),
          "state_value": float(config.model.initial_state.value),
          **{k: float(config.rl[k]) for k in RL_VALUES}}


def make_experiment(config) -> Experiment:
  """The A2C experiment of `config` (named "a2c" in `config.experiment`).

  Args:
    config: a whole config with an `rl` section.
  Returns:
    The `Experiment`: data {"eval_seed": [] int32}, the `A2C`'s functions, the
    run's values, and what the report says of it.
  Raises:
    ConfigError: as in `make_a2c`, or for a bad initializer name.
  """
  spec = make_a2c(config)
  env = spec.env
  # Resolve the initializer specs now, so bad initializer names fail here.
  record = {"init": model_lib.resolved_init(config, env.obs_size),
            "rollout_len": spec.rollout_len,
            "env_steps_per_update": spec.num_envs * spec.rollout_len}
  what = (f"{env.name}" + (f" (memory length {config.rl.memory_length})"
                           if env.name == "MemoryChain-bsuite" else "")
          + f", recurrent A2C, {spec.num_envs} envs x {spec.rollout_len} steps per update")
  return Experiment(
      data={"eval_seed": jnp.asarray(spec.eval_seed, jnp.int32)}, init=spec.init,
      train_chunk=spec.train_chunk, evaluate=spec.evaluate, values=run_values(config),
      value_fields=VALUE_FIELDS, value_prefixes=("model.init.",), description=what,
      metric=env.metric, lower_is_better=False, baseline=None,
      baseline_note="", first_k=1, record=record, reads=READS,
      score="mean evaluation return", step_unit="environment steps",
      steps_per_update=spec.num_envs * spec.rollout_len, failure_line=env.failure_line,
      target=env.target,
      perturb=perturb.on_params)
