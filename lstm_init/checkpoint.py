"""Checkpoints of a sweep: its typed `SweepState` and the chunk's run states.

One msgpack file (Flax serialization, no pickle), written atomically, so a
sweep killed at any moment finds either the previous checkpoint or the new
one:

  save(path, sweep_state, runs)         # runs: the chunk's stacked states, or None
  sweep_state = load_sweep(path, fresh) # restored into the structure of `fresh`
  runs = load_runs(path, template)      # template: run states of the same structure

The sweep state goes through `flax.serialization.to_state_dict` /
`from_state_dict`; run states are stored as their flat leaves and restored
into the template's tree (typed PRNG keys as their key data).
"""

from __future__ import annotations

import jax
import numpy as np
from flax import serialization

from lstm_init.distributed import fetch
from lstm_init.records import atomic_write_bytes


def _is_key(x) -> bool:
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def gather(runs) -> list[np.ndarray]:
  """The leaves of run states as NumPy arrays (keys as their key data)."""
  return [fetch(jax.random.key_data(x) if _is_key(x) else x) for x in jax.tree.leaves(runs)]


def save(path: str, sweep_state, runs=None) -> None:
  """Writes the sweep state and the run states into one file, atomically."""
  payload = {"sweep": serialization.to_state_dict(sweep_state)}
  if runs is not None:
    payload["runs"] = {str(i): a for i, a in enumerate(gather(runs))}
  atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def _read(path: str) -> dict:
  with open(path, "rb") as f:
    return serialization.msgpack_restore(f.read())


def load_sweep(path: str, fresh):
  """The saved sweep state, in the structure of `fresh` (writable arrays)."""
  restored = serialization.from_state_dict(fresh, _read(path)["sweep"])
  return jax.tree.map(np.array, restored)


def load_runs(path: str, template):
  """The saved run states, rebuilt in the structure and dtypes of `template`."""
  saved = _read(path).get("runs", {})
  leaves, treedef = jax.tree.flatten(template)
  if len(saved) != len(leaves):
    raise ValueError(f"checkpoint {path} holds {len(saved)} arrays, expected {len(leaves)}")
  out = []
  for i, t in enumerate(leaves):
    a = np.asarray(saved[str(i)])
    out.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)) if _is_key(t)
               else a.astype(t.dtype))
  return jax.tree.unflatten(treedef, out)
