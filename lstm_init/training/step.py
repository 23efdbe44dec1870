"""The update step every experiment shares: apply, check, keep the last good state.

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  step = apply_update(tx, state.params, state.opt_state, grads, loss, state.diverged,
                      threshold=1e6, keep=state.carry, new=new_carry)
  state = state.replace(params=step.params, opt_state=step.opt_state, carry=step.kept,
                        diverged=step.diverged)
  return state, step.loss        # NaN from the step a run diverged on

Like optax's `apply_if_finite`, a step whose loss or gradient is not finite is
rejected; unlike it, a run that has diverged once stays diverged (the sweep
counts it, and does not average it), keeps the parameters, optimizer state and
any other state (`keep`) of its last good step, and stops updating. A loss
whose magnitude reaches `threshold` counts as diverged too (an exploding run
that has not overflowed yet). Like Flax's `TrainState.apply_gradients`, the
optimizer's update and `optax.apply_updates` happen here, once.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class Applied(NamedTuple):
  """What `apply_update` returns (every field a pytree of one run's arrays)."""

  params: Any          # the new parameters, or the last good ones once diverged
  opt_state: Any       # the optimizer state, likewise
  kept: Any            # `new`, or `keep` once diverged (e.g. the LSTM's carried state)
  diverged: jax.Array  # [] bool: diverged on this step or before
  loss: jax.Array      # [] the step's loss, NaN once diverged


def is_good(loss: jax.Array, grads: Any, threshold: float = math.inf) -> jax.Array:
  """Whether a step may be applied.

  Args:
    loss: [] the step's loss.
    grads: the gradient pytree.
    threshold: a loss with |loss| >= threshold counts as exploding.

  Returns:
    [] bool: the loss is finite and below the threshold in magnitude, and every
    gradient entry is finite.
  """
  finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
  return jnp.isfinite(loss) & (jnp.abs(loss) < threshold) & finite


def keep_if(flag: jax.Array, old: Any, new: Any) -> Any:
  """`old` where `flag`, else `new`, over two pytrees of the same structure."""
  return jax.tree.map(lambda a, b: jnp.where(flag, a, b), old, new)


def apply_update(tx: optax.GradientTransformation, params: Any, opt_state: Any, grads: Any,
                 loss: jax.Array, diverged: jax.Array, *, threshold: float = math.inf,
                 keep: Any = (), new: Any = ()) -> Applied:
  """One optimizer step of one run, rejected if the loss or a gradient is bad.

  Args:
    tx: the optimizer (an optax gradient transformation).
    params: the parameters before the step.
    opt_state: `tx`'s state before the step.
    grads: the gradients of `loss` with respect to `params`.
    loss: [] the step's loss.
    diverged: [] bool: whether the run had diverged before this step.
    threshold: a loss with |loss| >= threshold marks the run diverged.
    keep: other state of the run before the step (kept once diverged).
    new: that state after the step (same structure as `keep`).

  Returns:
    `Applied`: the state to continue from, whether the run has diverged, and
    the loss to record (NaN once diverged).
  """
  updates, new_opt_state = tx.update(grads, opt_state, params)
  new_params = optax.apply_updates(params, updates)
  diverged = diverged | ~is_good(loss, grads, threshold)
  params, opt_state, kept = keep_if(diverged, (params, opt_state, keep),
                                    (new_params, new_opt_state, new))
  return Applied(params, opt_state, kept, diverged, jnp.where(diverged, jnp.nan, loss))
