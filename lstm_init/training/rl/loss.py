"""Generalized advantage estimation and the advantage actor-critic (A2C) loss.

Time-major arrays: `[T, B]` is T steps of B environments. `dones[t]` means
the episode ended after step t, so nothing after it is bootstrapped into step t.

  gae:      delta_t = r_t + gamma (1 - done_t) V_{t+1} - V_t
            A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},  V_T = bootstrap_value
            returns = A + V
  a2c_loss: policy_loss + value_coef * value_loss - entropy_coef * entropy
            policy_loss = -mean(log pi(a_t) * stop_gradient(A_t))
            value_loss  = 0.5 * mean((stop_gradient(returns) - V)^2)
            entropy     = mean entropy of pi

The advantage and the return are targets: no gradient flows through them
(`stop_gradient` here, whatever the caller passes). The policy's gradient
comes only through log pi(a_t), the value's only through V.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def gae(rewards: jax.Array, values: jax.Array, dones: jax.Array, bootstrap_value: jax.Array,
        gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
  """Advantages and returns ([T, B] each) by generalized advantage estimation.

  Args:
    rewards, values, dones: [T, B]; dones[t] is True when the episode ended
      after step t.
    bootstrap_value: [B], V of the state after the last step.
    gamma, lam: discount and GAE lambda.

  Returns:
    (advantages [T, B], returns [T, B] = advantages + values).
  """
  not_done = 1.0 - dones.astype(values.dtype)
  next_values = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)
  deltas = rewards + gamma * not_done * next_values - values

  def back(later, x):
    delta, nd = x
    advantage = delta + gamma * lam * nd * later
    return advantage, advantage

  _, advantages = jax.lax.scan(back, jnp.zeros_like(bootstrap_value), (deltas, not_done),
                               reverse=True)
  return advantages, advantages + values


def categorical_log_prob_entropy(logits: jax.Array, actions: jax.Array
                                 ) -> tuple[jax.Array, jax.Array]:
  """log pi(a) and the entropy of a categorical policy.

  Args:
    logits: [..., A] unnormalized log-probabilities.
    actions: [...] int actions.

  Returns:
    (log_prob [...], entropy [...]).
  """
  logp = jax.nn.log_softmax(logits, axis=-1)
  log_prob = jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]
  entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
  return log_prob, entropy


def gaussian_log_prob_entropy(mean: jax.Array, log_std: jax.Array, actions: jax.Array
                              ) -> tuple[jax.Array, jax.Array]:
  """log density and entropy of a diagonal Gaussian policy, summed over the
  action dimensions: mean, log_std, actions [..., D] (log_std may broadcast).

  The log-density is computed directly, never as `log(prob + eps)`: that
  scales the gradient by prob / (prob + eps), which vanishes for unlikely
  actions, and `eps` has no meaning on the scale of a density.

  Args:
    mean: [..., D] means.
    log_std: [..., D] or broadcastable to it (e.g. [D]).
    actions: [..., D] actions.

  Returns:
    (log_prob [...], entropy [...]).
  """
  log_std = jnp.broadcast_to(log_std, mean.shape)
  z = (actions - mean) * jnp.exp(-log_std)
  log_prob = jnp.sum(-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
  entropy = jnp.sum(log_std + 0.5 * (1.0 + math.log(2 * math.pi)), axis=-1)
  return log_prob, entropy


def a2c_terms(log_prob: jax.Array, entropy: jax.Array, values: jax.Array,
              advantages: jax.Array, returns: jax.Array, *, value_coef: float,
              entropy_coef: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The A2C loss from per-step log pi(a_t) and entropies ([T, B] each).

  Args:
    log_prob, entropy: [T, B] log pi(a_t) and policy entropy.
    values: [T, B] V(s_t), the value loss's prediction.
    advantages, returns: [T, B] targets (gradients stopped here).
    value_coef, entropy_coef: weights of the value loss and the entropy bonus.

  Returns:
    (scalar loss, {"loss", "policy_loss", "value_loss", "entropy"} scalars).

  Raises:
    ValueError: when the five arrays do not all have one shape.
  """
  shapes = {log_prob.shape, entropy.shape, values.shape, advantages.shape, returns.shape}
  if len(shapes) != 1:  # a [B] by [B, 1] broadcast would silently make a matrix
    raise ValueError(f"a2c_loss: log_prob, entropy, values, advantages and returns must have "
                     f"one shape, got {sorted(shapes)}")
  policy_loss = -jnp.mean(log_prob * jax.lax.stop_gradient(advantages))
  value_loss = 0.5 * jnp.mean((jax.lax.stop_gradient(returns) - values) ** 2)
  mean_entropy = jnp.mean(entropy)
  loss = policy_loss + value_coef * value_loss - entropy_coef * mean_entropy
  return loss, {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss,
                "entropy": mean_entropy}


def a2c_loss(logits: jax.Array, values: jax.Array, actions: jax.Array, advantages: jax.Array,
             returns: jax.Array, *, value_coef: float, entropy_coef: float
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The A2C loss of a categorical policy: logits [T, B, A], the rest [T, B].

  Args:
    logits: [T, B, A].
    values, actions, advantages, returns: [T, B].
    value_coef, entropy_coef: as in `a2c_terms`.

  Returns:
    (scalar loss, its terms), as in `a2c_terms`.
  """
  log_prob, entropy = categorical_log_prob_entropy(logits, actions)
  return a2c_terms(log_prob, entropy, values, advantages, returns, value_coef=value_coef,
                   entropy_coef=entropy_coef)


def gaussian_a2c_loss(mean: jax.Array, log_std: jax.Array, values: jax.Array,
                      actions: jax.Array, advantages: jax.Array, returns: jax.Array, *,
                      value_coef: float, entropy_coef: float
                      ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The A2C loss of a Gaussian policy: mean, actions [T, B, D]; log_std [T, B, D]
  (state-dependent) or [D] (state-independent); the rest [T, B].

  Args:
    mean, actions: [T, B, D].
    log_std: [T, B, D] or [D].
    values, advantages, returns: [T, B].
    value_coef, entropy_coef: as in `a2c_terms`.

  Returns:
    (scalar loss, its terms), as in `a2c_terms`.
  """
  log_prob, entropy = gaussian_log_prob_entropy(mean, log_std, actions)
  return a2c_terms(log_prob, entropy, values, advantages, returns, value_coef=value_coef,
                   entropy_coef=entropy_coef)
