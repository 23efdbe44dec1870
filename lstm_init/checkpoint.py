"""Checkpoints of a sweep: the stacked run state plus the host-side records.

Saved with Flax's msgpack serialization (no pickle), written atomically, so a
sweep killed at any moment finds either the previous checkpoint or the new
one. Typed PRNG keys are stored as their raw key data and rewrapped on load.

  save(path, state, records)            # state: a pytree of (sharded) arrays
  state, records = load(path, template) # template: a state of the same structure
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from flax import serialization

from lstm_init.records import atomic_write_bytes


def _is_key(x) -> bool:
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_host(tree) -> list[np.ndarray]:
  """The leaves of a state as NumPy arrays (keys as their key data)."""
  from lstm_init.distributed import fetch
  leaves = jax.tree.leaves(tree)
  return [fetch(jax.random.key_data(x) if _is_key(x) else x) for x in leaves]


def _encode(obj):
  """Records (nested dicts/lists of arrays and scalars) into msgpack-able dicts."""
  if isinstance(obj, dict):
    return {"d": {str(k): _encode(v) for k, v in obj.items()}, "t": "dict",
            "k": [type(k).__name__ for k in obj]}
  if isinstance(obj, (list, tuple)):
    return {"d": {str(i): _encode(v) for i, v in enumerate(obj)}, "t": "list"}
  if obj is None:
    return {"t": "none"}
  if isinstance(obj, str):
    return {"t": "str", "s": obj}
  return {"t": "array", "a": np.asarray(obj)}


def _decode(obj):
  t = obj["t"]
  if t == "dict":
    kinds = obj["k"]
    keys = [int(k) if kind == "int" else k for k, kind in zip(obj["d"], kinds)]
    return {k: _decode(v) for k, v in zip(keys, obj["d"].values())}
  if t == "list":
    return [_decode(obj["d"][str(i)]) for i in range(len(obj["d"]))]
  if t == "none":
    return None
  if t == "str":
    return obj["s"]
  a = np.array(obj["a"])  # a writable copy (restored buffers are read-only)
  return a.item() if a.ndim == 0 else a


def save(path: str, state, records: dict[str, Any]) -> None:
  """Writes the state's leaves and the records into one file, atomically."""
  payload = {"records": _encode(records)}
  if state is not None:
    payload["leaves"] = {str(i): a for i, a in enumerate(to_host(state))}
  atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def load(path: str, template=None):
  """Reads a checkpoint; with a template, rebuilds the state in its structure.

  Returns:
    (state or None, records).
  """
  with open(path, "rb") as f:
    payload = serialization.msgpack_restore(f.read())
  records = _decode(payload["records"])
  if template is None or "leaves" not in payload:
    return None, records
  leaves, treedef = jax.tree.flatten(template)
  saved = payload["leaves"]
  if len(saved) != len(leaves):
    raise ValueError(f"checkpoint {path} holds {len(saved)} arrays, expected {len(leaves)}")
  out = []
  for i, t in enumerate(leaves):
    a = np.asarray(saved[str(i)])
    out.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(t)) if _is_key(t)
               else a.astype(t.dtype))
  return jax.tree.unflatten(treedef, out), records


def exists(path: str) -> bool:
  return os.path.isfile(path)
