"""Checkpoints of a sweep: its typed `SweepState` and the chunk's run states.

One msgpack file (Flax serialization, no pickle), written atomically, so a
sweep killed at any moment finds either the previous checkpoint or the new
one:

  workdir.save_checkpoint(encode(sweep_state, runs, identity))   # runs: or None
  sweep_state = load_sweep(path, fresh, identity)  # restored into the structure of `fresh`
  runs = load_runs(path, template, n, identity)    # template: one seed group's run states

Each file carries the SHA-256 digest of its contents and the identity of the
plan that wrote it (`plan`: conditions, seeds, groups, the config), so a
damaged file, or one copied from another sweep, is refused with one line
(`check`) instead of being resumed from.

The sweep state goes through `flax.serialization.to_state_dict` /
`from_state_dict`; run states are stored as their flat leaves and restored
into the template's tree (typed PRNG keys as their key data).
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import msgpack
import numpy as np
from flax import serialization

from lstm_init.core.keys import is_key
from lstm_init.engine.runtime.processes import fetch
from lstm_init.errors import ConfigError

FORMAT = "lstm_init checkpoint 3"  # 3: SweepState.at_once renamed seed_groups


class CheckpointError(ConfigError):
  """A checkpoint that cannot be resumed from: one line, what is wrong and what to do."""


def gather(runs) -> list[np.ndarray]:
  """The leaves of run states as NumPy arrays (keys as their key data).

  Args:
    runs: a pytree of stacked run states, [runs, ...] leaves (on devices or host).

  Returns:
    The leaves in `jax.tree.leaves` order, as host arrays.
  """
  return [np.asarray(x) if isinstance(x, np.ndarray) else
          fetch(jax.random.key_data(x) if is_key(x) else x) for x in jax.tree.leaves(runs)]


def encode(sweep_state, runs=None, plan: dict[str, Any] | None = None) -> bytes:
  """The sweep state and the run states as one checkpoint's bytes, with the
  SHA-256 digest of its contents and the identity of the plan that wrote it.

  Args:
    sweep_state: the sweep's `SweepState`.
    runs: the chunk's stacked run states, or None.
    plan: the plan's identity (`SweepPlan.identity`).

  Returns:
    The file's bytes (`persist.workdir.Workdir.save_checkpoint` writes them).
  """
  payload = {"sweep": serialization.to_state_dict(sweep_state)}
  if runs is not None:
    payload["runs"] = {str(i): a for i, a in enumerate(gather(runs))}
  body = serialization.msgpack_serialize(payload)
  return msgpack.packb({"format": FORMAT, "plan": plan or {},
                       "digest": hashlib.sha256(body).hexdigest(), "body": body})


def _refuse(path: str, problem: str):
  return CheckpointError(f"checkpoint {path} {problem}; move it away to start afresh (mv "
                         f"{path} {path}.bad) or put back a good copy, then run the same "
                         "command again")


def _differences(saved: dict[str, Any], plan: dict[str, Any]) -> str:
  for key in plan:
    if saved.get(key) != plan[key]:
      return f"its {key} {saved.get(key)!r}, this sweep's {plan[key]!r}"
  return "its plan differs"


def check(path: str, plan: dict[str, Any]) -> dict:
  """The checkpoint's payload once it proves to be whole and of this plan.

  Args:
    path: the checkpoint file.
    plan: this sweep's plan identity; it must equal the saved one.

  Returns:
    The restored payload: {"sweep": state dict, "runs": {"0": array, ...}}
    ("runs" absent when none were saved).

  Raises:
    CheckpointError: for an empty, truncated or garbled file, one that fails its
      digest, or one written by another plan (naming what differs).
  """
  with open(path, "rb") as f:
    raw = f.read()
  if not raw:
    raise _refuse(path, "is empty")
  try:
    outer = msgpack.unpackb(raw, raw=False)
  except Exception as e:  # noqa: BLE001 - any unpacking failure is a damaged file
    raise _refuse(path, f"is damaged (truncated or garbled: {type(e).__name__})") from None
  if not isinstance(outer, dict) or outer.get("format") != FORMAT or not isinstance(
      outer.get("body"), bytes):
    raise _refuse(path, f"is not a checkpoint this lstm_init can read (expected {FORMAT!r})")
  if hashlib.sha256(outer["body"]).hexdigest() != outer.get("digest"):
    raise _refuse(path, "fails its SHA-256 digest: its contents are not what was saved")
  if outer.get("plan") != plan:
    raise _refuse(path, "was written by another sweep: " + _differences(outer["plan"], plan))
  return serialization.msgpack_restore(outer["body"])


def load_sweep(path: str, fresh, plan: dict[str, Any]):
  """The saved sweep state, in the structure of `fresh` (writable arrays).

  Args:
    path: the checkpoint file.
    fresh: a `SweepState` giving the structure.
    plan: as in `check`.

  Returns:
    The restored `SweepState`.

  Raises:
    CheckpointError: as in `check`.
  """
  return serialization.from_state_dict(fresh, check(path, plan)["sweep"])


def load_runs(path: str, template, n: int, plan: dict[str, Any]):
  """The saved run states as stacked host arrays (keys as their key data), in
  the structure of `template` (one group's tree) with `n` runs.

  Args:
    path: the checkpoint file.
    template: one group's run states, [group runs, ...] leaves.
    n: runs saved per leaf.
    plan: as in `check`.

  Returns:
    The run states, [n, ...] host leaves, in the template's dtypes.

  Raises:
    CheckpointError: as in `check`, or when the number or shapes of the saved
      arrays differ from the template's.
  """
  saved = check(path, plan).get("runs", {})
  leaves, treedef = jax.tree.flatten(template)
  if len(saved) != len(leaves):
    raise _refuse(path, f"holds {len(saved)} run arrays where this sweep has {len(leaves)}")
  out = []
  for i, t in enumerate(leaves):
    a = np.asarray(saved[str(i)])
    want = (n,) + (jax.random.key_data(t).shape if is_key(t) else t.shape)[1:]
    if a.shape != want:
      raise _refuse(path, f"holds run arrays of shape {a.shape} where this sweep has {want}")
    out.append(a if is_key(t) else a.astype(t.dtype))
  return jax.tree.unflatten(treedef, out)
