"""The gymnax environments an A2C study runs on, and how each is scored.

  env = make_env("CartPole-v1")                       # an `Env`
  env = make_env("MemoryChain-bsuite", memory_length=20)
  obs, state = env.reset(key)                         # one environment
  obs, state, reward, terminated, truncated, final_obs = env.step(key, state, action)

`step` resets by itself where an episode ended (gymnax's own auto-reset) and
returns the observation the finished episode ended on, so a truncated episode
(a time limit, not a terminal state) can be bootstrapped from it.

Environments:
  CartPole-v1               2 actions, 4 observations, 500 steps at most.
  MemoryChain-bsuite        2 actions; the context bit is shown at the start and
                            must be given back after `memory_length` steps
                            (reward +1 right, -1 wrong). Success: return > 0.
                            Evaluation episodes alternate the bit (`eval_reset`).
  Pendulum-v1               1 continuous action in [-2, 2], 200 steps.
  MountainCarContinuous-v0  1 continuous action in [-1, 1], 999 steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError, unknown

ENVS = ("CartPole-v1", "MemoryChain-bsuite", "Pendulum-v1", "MountainCarContinuous-v0")


@dataclasses.dataclass(frozen=True, eq=False)
class Env:
  """One gymnax environment with its parameters fixed.

  Attributes:
    name: the gymnax id.
    gym, params: the gymnax environment and its parameters.
    obs_size: observation width.
    discrete: categorical actions (else a box of `action_size` numbers).
    action_size: number of actions (discrete) or action dimensions (box).
    low, high: the box's bounds (continuous only).
    episode_steps: the longest episode, which an evaluation runs to the end.
    metric: what `success` measures ("return", or "success rate").
    failure_line: a final return below this counts as a seed that did not learn.
    target: a return that counts as solved (gymnasium's reward threshold where
      it has one; MemoryChain: 0.8, 90% of episodes right; Pendulum: -200).
  """

  name: str
  gym: Any
  params: Any
  obs_size: int
  discrete: bool
  action_size: int
  low: float
  high: float
  episode_steps: int
  metric: str
  failure_line: float | None
  target: float

  def reset(self, key):
    """A fresh episode of one environment.

    Args:
      key: the reset key.

    Returns:
      (obs [obs_size], state).
    """
    return self.gym.reset(key, self.params)

  def eval_reset(self, key, index):
    """The `index`-th evaluation episode's start. MemoryChain's bit is set to
    index % 2, so an even number of evaluation episodes asks each answer equally
    often and a policy that ignores the bit scores exactly 0.5.

    Args:
      key: the reset key.
      index: scalar int episode index.

    Returns:
      (obs [obs_size], state).
    """
    obs, state = self.reset(key)
    if self.name != "MemoryChain-bsuite":
      return obs, state
    state = state.replace(context=jnp.full_like(state.context, index % 2))
    return self.gym.get_obs(state, self.params), state

  def step(self, key, state, action):
    """(obs, state, reward, terminated, truncated, final_obs) of one environment.

    Args:
      key: the step key.
      state: the environment state.
      action: the action as the environment takes it (`env_action`).

    Returns:
      obs [obs_size] (of the next episode after an end), state, reward float32,
      terminated and truncated bools (truncated excludes terminated), final_obs
      [obs_size].
    """
    obs, state, reward, terminated, truncated, info = self.gym.step(key, state, action,
                                                                    self.params)
    return (obs, state, reward.astype(jnp.float32), terminated, truncated & ~terminated,
            info["final_observation"])

  def env_action(self, action):
    """What the environment receives: a box action clipped to its bounds.

    Args:
      action: a discrete action, or a box action scaled by `high`.

    Returns:
      The action unchanged (discrete) or `clip(action * high, low, high)`.
    """
    if self.discrete:
      return action
    return jnp.clip(action * self.high, self.low, self.high)

  def success(self, returns: jax.Array) -> jax.Array:
    """Per episode: 1.0 where it succeeded (MemoryChain) or the return itself.

    Args:
      returns: [...] episode returns.

    Returns:
      Same shape, float.
    """
    if self.metric == "success rate":
      return (returns > 0).astype(jnp.float32)
    return returns


def make_env(name: str, memory_length: int = 5) -> Env:
  """The environment `name` (one of `ENVS`); a one-line error otherwise.

  Args:
    name: a gymnax id in `ENVS`.
    memory_length: MemoryChain's delay (ignored by the others).

  Returns:
    The `Env`.

  Raises:
    ConfigError: for an unknown name or memory_length < 1.
  """
  if name not in ENVS:
    raise unknown("environment", name, ENVS)
  if memory_length < 1:
    raise ConfigError(f"rl.memory_length must be >= 1, got {memory_length}")
  # gymnax runs JAX computations when imported, which starts JAX's backend: imported
  # here, so that importing the engine leaves the host devices and the processes of a
  # multi-process sweep to be set up first (`engine.runtime`).
  import gymnax
  gym, params = gymnax.make(name)
  metric, failure_line = "return", None
  target = {"CartPole-v1": 475.0, "MemoryChain-bsuite": 0.8, "Pendulum-v1": -200.0,
            "MountainCarContinuous-v0": 90.0}[name]
  if name == "MemoryChain-bsuite":
    params = params.replace(memory_length=int(memory_length))
    episode_steps = int(memory_length) + 1
    metric = "success rate"
  else:
    episode_steps = int(params.max_steps_in_episode)
  if name == "CartPole-v1":
    failure_line = 100.0
  space = gym.action_space(params)
  discrete = hasattr(space, "n")
  obs_size = int(gym.observation_space(params).shape[0])
  if discrete:
    return Env(name, gym, params, obs_size, True, int(space.n), 0.0, 0.0, episode_steps,
               metric, failure_line, target)
  return Env(name, gym, params, obs_size, False, int(space.shape[0]), float(space.low),
             float(space.high), episode_steps, metric, failure_line, target)
