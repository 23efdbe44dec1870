"""The A2C learner: one run's training state, its rollouts, loss, updates and
greedy evaluation, the functions of the A2C `Experiment`.

  spec = lstm_init.training.rl.a2c.make_a2c(config)   # an `A2C`, validated
  state = spec.init(run_keys, values)                 # an `A2CState`
  state, out = spec.train_chunk(state, data, num_steps)

How a rollout, its replay in the loss and the evaluation work, and which key
stream draws what: `lstm_init.training.rl.a2c`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lstm_init.training import optim
from lstm_init.training.rl import loss as loss_lib
from lstm_init.training.rl.agent import AgentSpec, greedy, init_agent, sample
from lstm_init.training.rl.envs import Env
from lstm_init.training.step import apply_update

RL_VALUES = ("gamma", "gae_lambda", "value_coef", "entropy_coef")


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
  """A config's A2C training, frozen; the functions of its `Experiment`
  (built and validated by `lstm_init.training.rl.a2c.make_a2c`)."""

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
    """(environment and action key, initial-state noise key) of rollout step t.

    Args:
      state: the run's state (its step and keys).
      t: [] int step within the rollout, 0 to `rollout_len`.
    Returns:
      ([] "data" key, [] "noise" key), each folded with the global step
      `state.step * rollout_len + t`.
    """
    g = state.step * self.rollout_len + t
    k = state.keys
    return jax.random.fold_in(k["data"], g), jax.random.fold_in(k["noise"], g)

  def init(self, run_keys, values) -> A2CState:
    """One run's initial state (`Experiment.init`).

    Args:
      run_keys: the run's stream keys, {stream: [] key}.
      values: its numbers, {name: [] float} (`run_values`).
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
    """`rollout_len` steps of every environment: (state after, trajectory).

    Args:
      state: the run's state.
    Returns:
      (state after, {name: [T, envs, ...]}: obs, start, action, log_prob, value,
      reward (scaled, bootstrapped), done, raw_reward), T = `rollout_len`.
    """
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
    """log pi(action) and the policy's entropy, per row.

    Args:
      policy: [..., A] logits, or a (mean, log_std) pair of [..., A] arrays.
      action: [...] int (categorical) or [..., A] float (Gaussian) actions.
    Returns:
      (log_prob [...], entropy [...]).
    """
    if self.agent.discrete:
      return loss_lib.categorical_log_prob_entropy(policy, action)
    return loss_lib.gaussian_log_prob_entropy(policy[0], policy[1], action)

  def replay(self, params, state: A2CState, traj):
    """The policy and values of the rollout recomputed from its starting carry.

    Args:
      params: the parameters differentiated.
      state: the state before the rollout.
      traj: the rollout's trajectory ({name: [T, envs, ...]}, `rollout`).
    Returns:
      {"policy", "value"} per step, [T, envs, ...].
    """
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
    """The A2C loss of a rollout, replayed with `params`.

    Args:
      params: the parameters differentiated.
      state: the state before the rollout.
      traj: the rollout's trajectory ({name: [T, envs, ...]}, `rollout`).
      after: the state after the rollout (its bootstrap value).
    Returns:
      [] the loss.
    """
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
    """One update: a rollout, the loss's gradient and the optimizer's step.

    Args:
      state: the run's state.
      data: unused (the experiment's data).
    Returns:
      (the new state, [] loss: NaN once diverged).
    """
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
      state: the run's state.
      data: unused (the experiment's data).
      num_steps: updates (static).
    Returns:
      (the new state, {"loss": [num_steps]}).
    """
    state, losses = jax.lax.scan(lambda s, _: self.train_step(s, data), state, None,
                                 length=num_steps)
    return state, {"loss": losses}

  # -- evaluation -------------------------------------------------------------

  def episodes(self, params, values, count: int, key):
    """Returns of `count` whole greedy episodes, environments drawn from `key`.

    Args:
      params: the agent's parameters.
      values: the run's numbers, {name: [] float}.
      count: episodes (static).
      key: [] key, draws the environments and their steps.
    Returns:
      [count] returns.
    """
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
