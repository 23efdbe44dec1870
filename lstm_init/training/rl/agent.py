"""A recurrent actor-critic on the project's LSTM: parameters and one step.

  spec = AgentSpec(...)                      # read from the config once (lstm_init.training.rl.a2c)
  params = init_agent(key, spec, state_value)
  carries = spec.reset(params, carries, start, key, values, training)
  out, carries = spec.step(params, carries, obs)   # out: policy and value of one step

The actor is an LSTM stack (`lstm_init.core.lstm.apply`, any preset, override,
implementation and initial-state strategy) with a policy head: logits of a
categorical policy, or the mean of a Gaussian whose log-std is one learned
vector (state-independent) or a second head (state-dependent). The critic is
a second LSTM of the same kind with a value head (`critic="separate"`), or a
value head on the actor's LSTM (`critic="shared"`: the value loss then trains
the actor's LSTM too).

A carry is `{"actor": [(h, c)...], "critic": [(h, c)...]}` (the critic's
is empty when shared). `reset` puts the initial-state strategy's carry in
every row whose episode starts; the rollout and the loss's replay call it
with the same keys, so they see the same state.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lstm_init.core import lstm, initial_states
from lstm_init.core.initializers import get_initializer
from lstm_init.core.presets import init_params

LOG_STD_RANGE = (-5.0, 2.0)  # a state-dependent log-std is clipped to it


@dataclasses.dataclass(frozen=True)
class AgentSpec:
  """The static description of an agent (read from the config once).

  Attributes:
    obs_size, action_size: observation width; actions (discrete) or action
      dimensions (continuous).
    discrete: categorical policy, else Gaussian.
    hidden_size, num_layers, preset, overrides: each net's LSTM (`init_params`).
    head_init: initializer name of the policy and value heads.
    policy_scale: factor on the policy head's initial weights.
    log_std, log_std_init: how a Gaussian's log-std is made, and its start.
    critic: a separate critic LSTM or a value head on the actor's.
    strategy: the initial-state strategy (`lstm_init.core.initial_states`).
    impl, residual, residual_scale: as in `lstm.apply`.
  """

  obs_size: int
  action_size: int
  discrete: bool
  hidden_size: int
  num_layers: int
  preset: str
  overrides: tuple  # (name, value) pairs of `init_params` overrides
  head_init: str
  policy_scale: float
  log_std: str        # "state_independent" or "state_dependent"
  log_std_init: float
  critic: str         # "separate" or "shared"
  strategy: str
  impl: str
  residual: bool
  residual_scale: str | float

  @property
  def nets(self) -> tuple[str, ...]:
    """The nets with an LSTM: ("actor", "critic"), or ("actor",) when shared."""
    return ("actor", "critic") if self.critic == "separate" else ("actor",)

  def fresh(self, params, rows, key, values, training):
    """The initial-state strategy's carry of every net, [rows, H] per layer.

    Args:
      params: the agent's parameters (`init_agent`).
      rows: batch rows.
      key: noise key (net i uses `fold_in(key, i)`), or None.
      values: per-run values with "noise_std" and "state_value".
      training: draw the noise of noisy strategies.

    Returns:
      {"actor": [(h, c)...], "critic": [(h, c)...] or []}, each [rows, H].
    """
    out = {"critic": []}
    for i, net in enumerate(self.nets):
      out[net] = initial_states.initial_carry(
          self.strategy, params[net]["state"], rows, self.num_layers, self.hidden_size,
          key=None if key is None else jax.random.fold_in(key, i), training=training,
          noise_std=values["noise_std"], value=values["state_value"])
    return out

  def reset(self, params, carries, start, key, values, training):
    """`carries` with the strategy's carry in the rows where `start` [rows] is True.

    Args:
      params, key, values, training: as in `fresh`.
      carries: the current carry (see the module docstring), [rows, H] leaves.
      start: [rows] bool, the rows whose episode starts.

    Returns:
      The carry, same structure.
    """
    fresh = self.fresh(params, start.shape[0], key, values, training)
    s = start[:, None]
    return jax.tree.map(lambda f, c: jnp.where(s, f, c), fresh, carries)

  def _lstm(self, p, carry, obs):
    ys, carry = lstm.apply(p["lstm"], obs[:, None, :], carry, impl=self.impl,
                           residual=self.residual, residual_scale=self.residual_scale)
    return ys[:, 0], carry

  def step(self, params, carries, obs):
    """One step of every row.

    Args:
      params: the agent's parameters.
      carries: the carry, [rows, H] leaves.
      obs: [rows, obs_size] observations.

    Returns:
      ({"policy": logits [rows, A] or (mean, log_std) each [rows, A],
      "value": [rows]}, the new carries).
    """
    feat, actor_carry = self._lstm(params["actor"], carries["actor"], obs)
    head = params["actor"]["head"]
    out = feat @ head["W"] + head["b"]
    if self.discrete:
      policy = out
    elif self.log_std == "state_dependent":
      mean, log_std = jnp.split(out, 2, axis=-1)
      policy = (mean, jnp.clip(log_std, *LOG_STD_RANGE))
    else:
      policy = (out, jnp.broadcast_to(params["actor"]["log_std"], out.shape))
    if self.critic == "separate":
      vfeat, critic_carry = self._lstm(params["critic"], carries["critic"], obs)
    else:
      vfeat, critic_carry = feat, []
    v = params["value_head"]
    value = (vfeat @ v["W"] + v["b"])[:, 0]
    return {"policy": policy, "value": value}, {"actor": actor_carry, "critic": critic_carry}

  def value_only(self, params, carries, obs):
    """V(obs) from `carries` (the critic's net only).

    Args:
      params, carries: as in `step`.
      obs: [rows, obs_size] observations.

    Returns:
      [rows] values.
    """
    net = "critic" if self.critic == "separate" else "actor"
    feat, _ = self._lstm(params[net], carries[net], obs)
    v = params["value_head"]
    return (feat @ v["W"] + v["b"])[:, 0]


def init_agent(key: jax.Array, spec: AgentSpec, state_value=0.0) -> dict:
  """One agent's parameters: each net's LSTM (the preset) and initial state, the heads.

  Args:
    key: the agent's init key.
    spec: the agent.
    state_value: added to a learned initial state.

  Returns:
    {net: {"lstm": layers, "state": initial-state params}} per net; the actor
    also has "head" {"W": [H, A or 2A], "b"} (and "log_std" [A] when
    state-independent); "value_head" {"W": [H, 1], "b": [1]}.
  """
  k_actor, k_critic, k_pol, k_val = jax.random.split(key, 4)
  head = get_initializer(spec.head_init)
  params = {}
  for net, k in zip(spec.nets, (k_actor, k_critic)):
    layers = init_params(k, spec.obs_size, spec.hidden_size, preset=spec.preset,
                         num_layers=spec.num_layers, **dict(spec.overrides))
    state = initial_states.init_state_params(spec.strategy, spec.num_layers, spec.hidden_size)
    params[net] = {"lstm": layers, "state": jax.tree.map(lambda a: a + state_value, state)}
  outs = spec.action_size * (2 if not spec.discrete and spec.log_std == "state_dependent"
                             else 1)
  w = spec.policy_scale * head(k_pol, (spec.hidden_size, outs), jnp.float32)
  b = jnp.zeros((outs,))
  if not spec.discrete and spec.log_std == "state_dependent":
    b = b.at[spec.action_size:].set(spec.log_std_init)
  params["actor"]["head"] = {"W": w, "b": b}
  if not spec.discrete and spec.log_std == "state_independent":
    params["actor"]["log_std"] = jnp.full((spec.action_size,), spec.log_std_init)
  params["value_head"] = {"W": head(k_val, (spec.hidden_size, 1), jnp.float32),
                          "b": jnp.zeros((1,))}
  return params


def sample(spec: AgentSpec, policy, key):
  """An action per row drawn from the policy.

  Args:
    spec: the agent.
    policy: logits [rows, A] or (mean, log_std), each [rows, A].
    key: the draw's key.

  Returns:
    [rows] int actions, or [rows, A] float actions.
  """
  if spec.discrete:
    return jax.random.categorical(key, policy)
  mean, log_std = policy
  return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def greedy(spec: AgentSpec, policy):
  """The most likely action per row (the mean of a Gaussian).

  Args:
    spec: the agent.
    policy: logits [rows, A] or (mean, log_std), each [rows, A].

  Returns:
    [rows] int actions, or [rows, A] means.
  """
  return jnp.argmax(policy, axis=-1) if spec.discrete else policy[0]
