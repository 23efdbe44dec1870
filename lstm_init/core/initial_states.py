"""Initial-state strategies: where a window's carry comes from.

Usage:

  sp = init_state_params("learned", num_layers=2, hidden_size=64)
  carry = initial_carry("learned_noisy", sp, batch=32, key=noise_key,
                        training=True, noise_std=0.1)

Strategies:
  zeros          h0 = c0 = 0 (every framework's default).
  constant       h0 = c0 = `value`.
  learned        trainable h0, c0 per layer, broadcast over the batch
                 (Gers, Schraudolph and Schmidhuber 2002).
  noisy          zero mean plus Gaussian noise of std `noise_std` in training;
                 in evaluation the mean (zeros) is used.
  learned_noisy  noise around the learned state in training; the learned state
                 in evaluation.
  carried        the caller passes the carry (stateful training).

Noise is always drawn from the caller's key: two seeds get different noise,
one seed gets the same noise every time it is run.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError, unknown
from lstm_init.core import arguments
from lstm_init.core.lstm import Carry

STRATEGIES = ("zeros", "constant", "learned", "noisy", "learned_noisy", "carried")
LEARNED = ("learned", "learned_noisy")
NOISY = ("noisy", "learned_noisy")


def check_strategy(strategy: str) -> None:
  """Raises a one-line `ConfigError` for an unknown strategy.

  Args:
    strategy: the strategy name to check against `STRATEGIES`.

  Raises:
    ConfigError: `strategy` is not one of `STRATEGIES`.
  """
  if strategy not in STRATEGIES:
    raise unknown("initial-state strategy", strategy, STRATEGIES)


def init_state_params(strategy: str, num_layers: int, hidden_size: int,
                      value: float = 0.0, dtype=jnp.float32) -> list[dict[str, jax.Array]]:
  """Trainable initial-state parameters.

  Args:
    strategy: one of `STRATEGIES`.
    num_layers: layers in the stack.
    hidden_size: H.
    value: starting value of a learned state.
    dtype: parameter dtype.

  Returns:
    For learned strategies a list of `{"h0": [H], "c0": [H]}` per layer; for
    the others an empty list (nothing to train).

  Raises:
    ConfigError: for an unknown strategy, a size that is not an int >= 1, or
      a value that is not a finite number.
  """
  check_strategy(strategy)
  num_layers = arguments.positive_int("init_state_params", "num_layers", num_layers)
  hidden_size = arguments.positive_int("init_state_params", "hidden_size", hidden_size)
  arguments.finite("init_state_params", "value", value)
  if strategy not in LEARNED:
    return []
  full = jnp.full((hidden_size,), value, dtype)
  return [{"h0": full, "c0": full} for _ in range(num_layers)]


def initial_carry(strategy: str, state_params: Sequence[dict[str, jax.Array]],
                  batch: int, num_layers: int | None = None,
                  hidden_size: int | None = None, *, key: jax.Array | None = None,
                  training: bool = False, noise_std: float | jax.Array = 0.0,
                  value: float | jax.Array = 0.0,
                  carry: Sequence[Carry] | None = None,
                  dtype=jnp.float32) -> list[Carry]:
  """The carry a window starts from.

  Args:
    strategy: one of `STRATEGIES`.
    state_params: output of `init_state_params` (possibly trained).
    batch: rows in the batch.
    num_layers, hidden_size: needed when `state_params` is empty.
    key: noise key; required for noisy strategies in training.
    training: add noise (noisy strategies) when True; evaluation uses the mean.
    noise_std: standard deviation of the noise (may be a traced array, so a
      sweep can vmap over it).
    value: the constant of the `constant` strategy.
    carry: the carry for `carried`.
    dtype: carry dtype.

  Returns:
    A list of per-layer (h, c), each [batch, H].

  Raises:
    ConfigError: an unknown strategy, `carried` without `carry`, no
      `state_params` and no sizes, a noisy strategy in training without `key`,
      a batch that is not an int >= 1, a value that is not finite or a
      noise_std that is not finite and >= 0 (these two checked when concrete).
  """
  check_strategy(strategy)
  batch = arguments.positive_int("initial_carry", "batch", batch)
  arguments.finite("initial_carry", "value", value)
  arguments.finite("initial_carry", "noise_std", noise_std, lambda s: s >= 0,
                   "a finite number >= 0")
  if strategy == "carried":
    if carry is None:
      raise ConfigError("initial-state strategy 'carried' needs the carry to be passed")
    return list(carry)
  if state_params:
    num_layers = len(state_params)
    hidden_size = state_params[0]["h0"].shape[-1]
  if num_layers is None or hidden_size is None:
    raise ConfigError("num_layers and hidden_size are needed without state parameters")
  num_layers = arguments.positive_int("initial_carry", "num_layers", num_layers)
  hidden_size = arguments.positive_int("initial_carry", "hidden_size", hidden_size)
  shape = (batch, hidden_size)
  if strategy in LEARNED:
    means = [(jnp.broadcast_to(sp["h0"], shape), jnp.broadcast_to(sp["c0"], shape))
             for sp in state_params]
  elif strategy == "constant":
    full = jnp.full(shape, value, dtype)
    means = [(full, full)] * num_layers
  else:
    zeros = jnp.zeros(shape, dtype)
    means = [(zeros, zeros)] * num_layers
  if strategy not in NOISY or not training:
    return means
  if key is None:
    raise ConfigError(f"initial-state strategy {strategy!r} needs a noise key in training")
  arguments.prng_key("initial_carry", key)
  noisy = []
  for l, (h, c) in enumerate(means):
    kh, kc = jax.random.split(jax.random.fold_in(key, l))
    noisy.append((h + noise_std * jax.random.normal(kh, shape, dtype),
                  c + noise_std * jax.random.normal(kc, shape, dtype)))
  return noisy
