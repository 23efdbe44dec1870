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
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lstm_init.training import model as model_lib
from lstm_init.training import optim
from lstm_init.core import perturb, initial_states
from lstm_init.errors import ConfigError, unknown
from lstm_init.training.experiment import Experiment
from lstm_init.training.rl import loss as loss_lib
from lstm_init.training.rl.agent import AgentSpec, greedy, init_agent, sample
from lstm_init.training.rl.envs import Env, make_env
from lstm_init.training.step import apply_update

HEADS = ("auto", "categorical", "gaussian")
LOG_STDS = ("state_independent", "state_dependent")
CRITICS = ("separate", "shared")
RL_VALUES = ("gamma", "gae_lambda", "value_coef", "entropy_coef")
VALUE_FIELDS = tuple(optim.HYPERPARAMS.values()) + tuple(f"rl.{k}" for k in RL_VALUES) + (
    "model.initial_state.noise_std", "model.initial_state.value")
READS = ("rl.", "model.hidden_size", "model.num_layers", "model.impl", "model.residual",
         "model.residual_scale", "model.init.", "model.initial_state.", "train.optimizer",
         "train.learning_rate", "train.momentum", "train.weight_decay", "train.clip_norm",
         "train.schedule", "train.decay_rate", "train.decay_steps", "train.warmup_steps",
         "train.divergence_threshold")


def rl_config() -> ml_collections.ConfigDict:
  """The `config.rl` section with its defaults (A2C as in Mnih et al. 2016)."""
  r = ml_collections.ConfigDict()
  r.env = "CartPole-v1"         # CartPole-v1, MemoryChain-bsuite, Pendulum-v1,
                                # MountainCarContinuous-v0
  r.memory_length = 5           # MemoryChain: steps between the context and the query
  r.num_envs = 16               # environments per run, stepped together
  r.rollout_len = 16            # steps per update (0 = one episode: MemoryChain's
                                # memory_length + 1, so BPTT reaches back to the context)
  r.gamma = 0.99
  r.gae_lambda = 0.95
  r.value_coef = 0.5
  r.entropy_coef = 0.01
  r.normalize_advantages = False  # divide the advantages by their std in each update
  r.reward_scale = 1.0          # rewards are multiplied by this in training only
  r.head = "auto"               # auto (the action space's), categorical, gaussian
  r.log_std = "state_independent"  # gaussian: state_independent or state_dependent
  r.log_std_init = 0.0
  r.critic = "separate"         # separate (its own LSTM) or shared (a head on the actor's)
  r.policy_scale = 0.01         # the policy head's init is model.init.readout times this
  r.eval_episodes = 16          # whole greedy episodes per evaluation
  r.curve_episodes = 8          # episodes per learning-curve point
  r.eval_seed = 0               # the evaluation environments' key, the same for every run
  return r


@flax.struct.dataclass
class A2CState:
  """One run's training state, carried from update to update."""

  params: Any           # the agent's parameters (`init_agent`)
  opt_state: Any        # the optimizer's state
  env_state: Any        # [envs] gymnax states
  obs: jax.Array        # [envs, obs]
  carries: Any          # the agent's carries, [envs, H] per layer
  start: jax.Array      # [envs] bool: the next step starts an episode
  step: jax.Array       # [] int32 updates done
  diverged: jax.Array   # [] bool: the run stopped updating
  keys: dict[str, jax.Array]    # the run's stream keys
  values: dict[str, jax.Array]  # the run's numbers: noise_std, state_value, RL_VALUES


@dataclasses.dataclass(frozen=True, eq=False)
class A2C:
  """A config's A2C training, frozen; the functions of its `Experiment`."""

  env: Env                         # the environment
  agent: AgentSpec                 # the actor-critic
  optimizer: optim.OptimizerSpec   # `config.train`'s optimizer
  tx: optax.GradientTransformation  # built from it
  num_envs: int                    # environments per run
  rollout_len: int                 # steps per update
  normalize_advantages: bool       # divide advantages by their std
  reward_scale: float              # on the training rewards
  eval_episodes: int               # greedy episodes per "val"/"test" evaluation
  curve_episodes: int              # per "curve" evaluation
  eval_seed: int  # what `data["eval_seed"]` holds (evaluate reads it from `data`)
  divergence_threshold: float  # a loss above it marks the run diverged

  # -- keys: one per global environment step, so a replay and the next rollout agree

  def step_keys(self, state: A2CState, t):
    """(environment and action key, initial-state noise key) of rollout step t."""
    g = state.step * self.rollout_len + t
    k = state.keys
    return jax.random.fold_in(k["data"], g), jax.random.fold_in(k["noise"], g)

  def init(self, run_keys, values) -> A2CState:
    """One run's initial state (`Experiment.init`).

    Args:
      run_keys: the run's stream keys; values: its numbers (`run_values`).
    Returns:
      The `A2CState`, environments reset and carries fresh.
    """
    params = init_agent(run_keys["init"], self.agent, values["state_value"])
    hyper = {k: values[k] for k in optim.HYPERPARAMS}
    opt_state = optim.optimizer(self.optimizer, hyper).init(params)
    reset_keys = jax.random.split(jax.random.fold_in(run_keys["data"], 2 ** 31 - 1),
                                  self.num_envs)
    obs, env_state = jax.vmap(self.env.reset)(reset_keys)
    own = {k: values[k] for k in ("noise_std", "state_value") + RL_VALUES}
    carries = self.agent.fresh(params, self.num_envs, None, own, False)
    return A2CState(params, opt_state, env_state, obs, carries,
                    jnp.ones((self.num_envs,), bool), jnp.zeros((), jnp.int32),
                    jnp.zeros((), bool), dict(run_keys), own)

  # -- one update -------------------------------------------------------------

  def rollout(self, state: A2CState):
    """`rollout_len` steps of every environment: (state after, trajectory)."""
    params, values = state.params, state.values

    def body(carry, t):
      env_state, obs, carries, start = carry
      k_env, k_noise = self.step_keys(state, t)
      k_act, k_step = jax.random.split(k_env)
      carries = self.agent.reset(params, carries, start, k_noise, values, True)
      out, carries = self.agent.step(params, carries, obs)
      action = sample(self.agent, out["policy"], k_act)
      log_prob, _ = self.log_prob_entropy(out["policy"], action)
      env_action = self.env.env_action(action)
      obs2, env_state, reward, term, trunc, final_obs = jax.vmap(self.env.step)(
          jax.random.split(k_step, self.num_envs), env_state, env_action)
      # A time limit is not a terminal state: bootstrap from where the episode stopped.
      v_final = self.agent.value_only(params, carries, final_obs)
      target_reward = reward * self.reward_scale + jnp.where(
          trunc, values["gamma"] * v_final, 0.0)
      done = term | trunc
      record = {"obs": obs, "start": start, "action": action, "log_prob": log_prob,
                "value": out["value"], "reward": target_reward, "done": done,
                "raw_reward": reward}
      return (env_state, obs2, carries, done), record

    init = (state.env_state, state.obs, state.carries, state.start)
    (env_state, obs, carries, start), traj = jax.lax.scan(
        body, init, jnp.arange(self.rollout_len))
    return state.replace(env_state=env_state, obs=obs, carries=carries, start=start), traj

  def log_prob_entropy(self, policy, action):
    """log pi(action) and the policy's entropy, per row."""
    if self.agent.discrete:
      return loss_lib.categorical_log_prob_entropy(policy, action)
    return loss_lib.gaussian_log_prob_entropy(policy[0], policy[1], action)

  def replay(self, params, state: A2CState, traj):
    """The policy and values of the rollout recomputed from its starting carry."""
    values = state.values

    def body(carries, x):
      t, obs, start = x
      _, k_noise = self.step_keys(state, t)
      carries = self.agent.reset(params, carries, start, k_noise, values, True)
      out, carries = self.agent.step(params, carries, obs)
      return carries, out

    start = jax.lax.stop_gradient(state.carries)
    _, outs = jax.lax.scan(body, start, (jnp.arange(self.rollout_len), traj["obs"],
                                         traj["start"]))
    return outs

  def loss(self, params, state: A2CState, traj, after: A2CState):
    """[] the A2C loss of the rollout `traj` from `state` to `after`, replayed with `params`."""
    values = state.values
    # V of the state after the rollout, from the carry the next rollout starts with.
    _, k_noise = self.step_keys(state, self.rollout_len)
    carries = self.agent.reset(params, after.carries, after.start, k_noise, values, True)
    bootstrap = self.agent.value_only(params, carries, after.obs)
    advantages, returns = loss_lib.gae(traj["reward"], traj["value"], traj["done"],
                                       jax.lax.stop_gradient(bootstrap), values["gamma"],
                                       values["gae_lambda"])
    if self.normalize_advantages:
      advantages = advantages / (jnp.std(advantages) + 1e-8)
    outs = self.replay(params, state, traj)
    log_prob, entropy = self.log_prob_entropy(outs["policy"], traj["action"])
    total, _ = loss_lib.a2c_terms(
        log_prob, entropy, outs["value"], advantages, returns,
        value_coef=values["value_coef"], entropy_coef=values["entropy_coef"])
    return total

  def train_step(self, state: A2CState, data) -> tuple[A2CState, jax.Array]:
    """One update (a rollout, the loss's gradient, the optimizer): (new state, [] loss)."""
    del data
    after, traj = self.rollout(state)
    loss, grads = jax.value_and_grad(self.loss)(state.params, state, traj, after)
    # A diverged run keeps its last good parameters and stops updating.
    done = apply_update(self.tx, state.params, state.opt_state, grads, loss, state.diverged,
                        threshold=self.divergence_threshold)
    new = after.replace(params=done.params, opt_state=done.opt_state, step=state.step + 1,
                        diverged=done.diverged)
    return new, done.loss

  def train_chunk(self, state: A2CState, data, num_steps: int):
    """`num_steps` updates (`Experiment.train_chunk`).

    Args:
      state: the run's state; data: unused; num_steps: updates (static).
    Returns:
      (the new state, {"loss": [num_steps]}).
    """
    state, losses = jax.lax.scan(lambda s, _: self.train_step(s, data), state, None,
                                 length=num_steps)
    return state, {"loss": losses}

  # -- evaluation -------------------------------------------------------------

  def episodes(self, params, values, count: int, key):
    """Returns of `count` whole greedy episodes, environments drawn from `key`."""
    k_reset, k_steps = jax.random.split(key)
    obs, env_state = jax.vmap(self.env.eval_reset)(jax.random.split(k_reset, count),
                                                   jnp.arange(count))
    carries = self.agent.fresh(params, count, None, values, False)

    def body(carry, t):
      env_state, obs, carries, alive, total = carry
      out, carries = self.agent.step(params, carries, obs)
      action = self.env.env_action(greedy(self.agent, out["policy"]))
      obs, env_state, reward, term, trunc, _ = jax.vmap(self.env.step)(
          jax.random.split(jax.random.fold_in(k_steps, t), count), env_state, action)
      total = total + jnp.where(alive, reward, 0.0)
      return (env_state, obs, carries, alive & ~(term | trunc), total), None

    init = (env_state, obs, carries, jnp.ones((count,), bool), jnp.zeros((count,)))
    (*_, total), _ = jax.lax.scan(body, init, jnp.arange(self.env.episode_steps))
    return total

  def evaluate(self, state: A2CState, data, split: str = "val"):
    """Greedy episodes' mean return ("loss", higher is better) and success rate.

    Args:
      state: one run's state.
      data: {"eval_seed": [] int32}, the evaluation environments' seed (every run's).
      split: "curve" (`curve_episodes` episodes), "val" or "test" (`eval_episodes`,
        other episodes than validation).

    Returns:
      {"loss": [] mean return, "metric": [] fraction of successful episodes}.
    """
    count = self.curve_episodes if split == "curve" else self.eval_episodes
    key = jax.random.key(data["eval_seed"])
    if split == "test":
      key = jax.random.fold_in(key, 1)  # other episodes than validation
    returns = self.episodes(state.params, state.values, count, key)
    return {"loss": jnp.mean(returns), "metric": jnp.mean(self.env.success(returns))}


def _check(r) -> None:
  for name in ("num_envs", "eval_episodes", "curve_episodes"):
    if int(r[name]) < 1:
      raise ConfigError(f"rl.{name} must be >= 1, got {r[name]}")
  if int(r.rollout_len) < 0:
    raise ConfigError(f"rl.rollout_len must be >= 1, or 0 for one episode, got {r.rollout_len}")
  for name in ("gamma", "gae_lambda"):
    if not 0.0 <= float(r[name]) <= 1.0:
      raise ConfigError(f"rl.{name} must be in [0, 1], got {r[name]}")
  for name in ("value_coef", "entropy_coef", "policy_scale", "reward_scale"):
    if not float(r[name]) >= 0.0:
      raise ConfigError(f"rl.{name} must be >= 0, got {r[name]}")
  for name, value, valid in (("head", r.head, HEADS), ("log_std", r.log_std, LOG_STDS),
                             ("critic", r.critic, CRITICS)):
    if value not in valid:
      raise unknown(f"rl.{name}", value, valid)


def make_a2c(config) -> A2C:
  """The frozen spec of a config's A2C training (validated; one-line errors).

  Args:
    config: a whole config with an `rl` section.
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
  return A2C(env=env, agent=agent, optimizer=opt_spec, tx=optim.optimizer(opt_spec),
             num_envs=int(r.num_envs), rollout_len=rollout_len,
             normalize_advantages=bool(r.normalize_advantages),
             reward_scale=float(r.reward_scale), eval_episodes=int(r.eval_episodes),
             curve_episodes=int(r.curve_episodes), eval_seed=int(r.eval_seed),
             divergence_threshold=float(config.train.divergence_threshold))


def run_values(config) -> dict[str, float]:
  """A config's per-run numbers ({name: float}: optimizer, initial state, `RL_VALUES`)."""
  return {**optim.config_hyperparams(config.train),
          "noise_std": float(config.model.initial_state.noise_std),
          "state_value": float(config.model.initial_state.value),
          **{k: float(config.rl[k]) for k in RL_VALUES}}


def make_experiment(config) -> Experiment:
  """The A2C experiment of `config` (named "a2c" in `config.experiment`).

  Args:
    config: a whole config with an `rl` section.
  Returns:
    The `Experiment`.
  Raises:
    ConfigError: as in `make_a2c`.
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
