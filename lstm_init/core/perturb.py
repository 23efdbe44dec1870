"""One-ulp perturbations of initial parameters: the instability design.

Summers and Dinneen (2021) found that changing one bit of one initial weight
moves a trained network about as far as changing its seed. With
`design="instability"` every run of a base seed shares all its random streams;
run j > 0 flips the least significant bit of one parameter element, chosen by
`keys.perturb_key(root, base, j)` among the non-zero elements (a zero would
become a subnormal that the CPU flushes back to zero), and run 0 is the
unperturbed base run.

  params = flip_one_ulp(params, key)            # exactly one element, one ulp
  params = flip_one_ulp(params, key, enabled)   # enabled=False: unchanged
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def chosen_element(flat: jax.Array, key: jax.Array) -> jax.Array:
  """The flat index of the element `key` picks among the non-zero ones of `flat`.

  Args:
    flat: [n] flattened parameters.
    key: the pick's key.

  Returns:
    A scalar int index into `flat` (0 when all elements are zero).
  """
  nonzero = flat != 0
  r = jax.random.randint(key, (), 0, jnp.maximum(jnp.sum(nonzero), 1))
  return jnp.argmax(jnp.cumsum(nonzero) > r)


def flip_one_ulp(params, key: jax.Array, enabled: jax.Array | bool = True):
  """`params` with the lowest mantissa bit of one non-zero float32 element flipped.

  Flipping that bit moves the element to its neighbouring float32, up or down
  in magnitude: exactly one unit in the last place. Works under `jit` and `vmap`.

  Args:
    params: a pytree of float32 arrays.
    key: picks the element (`chosen_element`).
    enabled: a bool (or traced bool); False returns `params` bit for bit.

  Returns:
    A pytree of the same structure and dtypes.

  Raises:
    ValueError: when the parameters are not float32.
  """
  flat, unravel = ravel_pytree(params)
  if flat.dtype != jnp.float32:
    raise ValueError(f"flip_one_ulp needs float32 parameters, got {flat.dtype}")
  index = chosen_element(flat, key)
  bits = jax.lax.bitcast_convert_type(flat, jnp.uint32)
  flip = (jnp.arange(flat.size) == index) & jnp.asarray(enabled)
  bits = jnp.where(flip, bits ^ jnp.uint32(1), bits)
  return unravel(jax.lax.bitcast_convert_type(bits, jnp.float32))


def on_params(state, key: jax.Array, enabled: jax.Array | bool = True):
  """`flip_one_ulp` on `state.params` of a dataclass state with `.replace` (the
  built-in experiments' `Experiment.perturb`).

  Args:
    state: a state with `.params` and `.replace`.
    key, enabled: as in `flip_one_ulp`.

  Returns:
    `state` with the perturbed params.
  """
  return state.replace(params=flip_one_ulp(state.params, key, enabled))
