"""The processes of a sweep: joining them, who writes, what they exchange.

Multi-host: every process runs the same command; `initialize()` calls
`jax.distributed.initialize()` when the usual cluster variables are set (or
`LSTM_INIT_COORDINATOR` is; see `runtime.cluster`), the mesh spans every
process's devices, results are gathered to every process, and only process 0
writes files. Before any collective, `check_same_plan` compares the
processes' plans through the coordinator, so processes started with
different commands are refused in one line on every process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from typing import Any, Mapping

import jax
import numpy as np

from lstm_init.engine.runtime.cluster import (JAX_MARGIN_S, JOIN_TIMEOUT, cluster_from_environment,
                                              deadline, join_failed_line, join_timeout_s)
from lstm_init.errors import ConfigError

try:  # the coordinator's key-value store (JAX's own channel between processes)
  from jax._src import distributed as jax_distributed
except ImportError:  # pragma: no cover - a JAX without it compares plans by a collective
  jax_distributed = None


@dataclasses.dataclass
class _State:
  done: bool = False     # initialize() ran
  joined: bool = False   # jax.distributed.initialize() joined processes
  checks: int = 0        # plan comparisons started (each has its own keys)


_STATE = _State()


def initialize() -> None:
  """`jax.distributed.initialize()` for multi-process runs, once, when configured.

  Set `LSTM_INIT_COORDINATOR=host:port`, `LSTM_INIT_NUM_PROCESSES` and
  `LSTM_INIT_PROCESS_ID` (or run under a cluster JAX detects: SLURM, Open MPI)
  to join processes into one sweep. The variables are checked first; the wait
  for the other processes is bounded by `join_timeout_s()`.

  Returns:
    None. Later calls do nothing; `joined()` tells whether processes joined.

  Raises:
    ConfigError: for variables that `cluster_from_environment` or
      `join_timeout_s` refuses (nothing has connected then).
  """
  if _STATE.done:
    return
  cluster = cluster_from_environment()
  if cluster is not None:
    seconds = join_timeout_s()
    given = ({} if not cluster.coordinator else
             {"coordinator_address": cluster.coordinator,
              "num_processes": cluster.num_processes, "process_id": cluster.process_id})
    # JAX's lines on starting and connecting are not news; its warnings still are.
    logging.getLogger("jax._src.distributed").setLevel(logging.WARNING)
    with deadline(seconds, join_failed_line(cluster, seconds)):
      jax.distributed.initialize(**given,
                                 initialization_timeout=int(math.ceil(seconds)) + JAX_MARGIN_S)
    _STATE.joined = True
  _STATE.done = True


def joined() -> bool:
  """Whether this process is one of several (`initialize` joined them).

  Returns:
    True after `initialize` called `jax.distributed.initialize()`.
  """
  return _STATE.joined


PLAN_KEY = "lstm_init/plan/{check}/{process}"


def _store():
  """The coordinator's key-value store, or None (one process, or a JAX without it)."""
  state = getattr(jax_distributed, "global_state", None)
  client = getattr(state, "client", None)
  needed = ("key_value_set", "blocking_key_value_get")
  return client if client is not None and all(hasattr(client, m) for m in needed) else None


def _shown(value: Any, most: int = 120) -> str:
  text = json.dumps(value, default=str)
  return text if len(text) <= most else text[:most - 3] + "..."


def plan_differs_line(other: int, theirs: Mapping[str, Any], mine: Mapping[str, Any]) -> str:
  """One line: process `other` planned another sweep than this one, and where.

  Args:
    other: the other process's id.
    theirs: what it published: {"identity": its `SweepPlan.identity`,
      "fields": its config, flat}.
    mine: the same of this process.

  Returns:
    The line, naming the first config fields that differ (else the first part
    of the identity that does).
  """
  a, b = theirs.get("fields", {}), mine.get("fields", {})
  diff = [f"{k} {_shown(a.get(k, '(absent)'), 40)} there, {_shown(b.get(k, '(absent)'), 40)} "
          "here" for k in dict.fromkeys([*b, *a]) if a.get(k) != b.get(k)][:3]
  if not diff:
    ta, tb = theirs["identity"], mine["identity"]
    key = next((k for k in dict.fromkeys([*tb, *ta]) if ta.get(k) != tb.get(k)), "config")
    diff = [f"{key} {_shown(ta.get(key))} there, {_shown(tb.get(key))} here"]
  return (f"process {other} planned another sweep than process {jax.process_index()} (this "
          f"one): {'; '.join(diff)}; every process must run the same command (config file, "
          "--config values, --sweep); nothing was trained")


def check_same_plan(identity: Mapping[str, Any], fields: Mapping[str, Any] | None = None,
                    timeout_s: float | None = None) -> None:
  """Refuses, with one line on every process, processes that planned different sweeps.

  Each process puts its plan's identity into the coordinator's key-value store
  and reads every other's (a wait bounded by `timeout_s`), before any
  collective of the sweep: a collective between different programs would
  abort or hang. Does nothing in a single process.

  Args:
    identity: this process's `SweepPlan.identity`.
    fields: its config, flat ({dotted path: value}), to name the fields that
      differ.
    timeout_s: how long to wait for another process's plan (default
      `join_timeout_s()`).

  Raises:
    ConfigError: when another process's plan differs, when another process
      stopped before its plan was made (`announce_stop`), or when its plan
      did not come in time.
  """
  if not joined() or jax.process_count() == 1:
    return
  mine = json.loads(json.dumps({"identity": identity, "fields": fields or {}}, default=str))
  me, count, check = jax.process_index(), jax.process_count(), _STATE.checks
  _STATE.checks += 1
  store = _store()
  if store is None:
    _check_by_gather(mine)
    return
  seconds = join_timeout_s() if timeout_s is None else timeout_s
  store.key_value_set(PLAN_KEY.format(check=check, process=me), json.dumps(mine))
  for other in range(count):
    if other == me:
      continue
    try:
      theirs = json.loads(store.blocking_key_value_get(
          PLAN_KEY.format(check=check, process=other), max(1, int(seconds * 1000))))
    except Exception as e:  # noqa: BLE001 - JAX's runtime error for a wait that timed out
      if "DEADLINE_EXCEEDED" not in str(e):
        raise
      raise ConfigError(f"process {other} of {count} did not report its plan within "
                        f"{seconds:g} s (it stopped or is still planning: see its output; "
                        f"{JOIN_TIMEOUT} sets the wait); nothing was trained") from None
    if "stopped" in theirs:
      raise ConfigError(f"process {other} of {count} stopped before the sweep began "
                        f"({theirs['stopped']}); nothing was trained")
    if theirs["identity"] != mine["identity"]:
      raise ConfigError(plan_differs_line(other, theirs, mine))


def _check_by_gather(mine: Mapping[str, Any]) -> None:
  """`check_same_plan` by one gather of the plans' digests (no key-value store)."""
  from jax.experimental import multihost_utils
  digest = hashlib.sha256(json.dumps(mine["identity"], sort_keys=True).encode()).digest()
  every = np.asarray(multihost_utils.process_allgather(np.frombuffer(digest, np.uint8)))
  other = next((p for p in range(len(every)) if bytes(every[p]) != digest), None)
  if other is not None:
    raise ConfigError(f"process {other} planned another sweep than process "
                      f"{jax.process_index()} (this one; plan digests differ); every process "
                      "must run the same command (config file, --config values, --sweep); "
                      "nothing was trained")


def announce_stop(line: str) -> None:
  """Tells the other processes that this one stopped before its plan was
  compared (`line`: why), so that they say so at once instead of waiting.

  Args:
    line: this process's one-line error.
  """
  store = _store() if joined() else None
  if store is None:
    return
  key = PLAN_KEY.format(check=_STATE.checks, process=jax.process_index())
  try:
    store.key_value_set(key, json.dumps({"stopped": line}))
  except Exception:  # noqa: BLE001 - already published, or the coordinator is gone
    pass


LEFT_KEY = "lstm_init/left/{process}"
LEAVE_WAIT_S = 3.0  # how long process 0 waits for the others to leave before it does


def leave() -> None:
  """Before a process of several exits on an error: the others say they leave,
  and process 0, which serves the coordinator, waits (at most `LEAVE_WAIT_S`)
  until they have, so that none meets a vanished coordinator (JAX's runtime
  aborts such a process with lines of its own)."""
  store = _store() if joined() else None
  if store is None:
    return
  me = jax.process_index()
  try:
    if me != 0:
      store.key_value_set(LEFT_KEY.format(process=me), "1")
      return
    until = time.monotonic() + LEAVE_WAIT_S
    for other in range(1, jax.process_count()):
      left = until - time.monotonic()
      if left <= 0:
        return
      store.blocking_key_value_get(LEFT_KEY.format(process=other), max(1, int(left * 1000)))
    time.sleep(0.2)  # the last one's exit follows its key at once
  except Exception:  # noqa: BLE001 - a wait that timed out, or the coordinator is gone
    pass


# What a collective raises when another process of the sweep has gone.
_LOST_PEER = ("Connection reset by peer", "Connection closed by peer", "Gloo", "heartbeat",
              "UNAVAILABLE", "DEADLINE_EXCEEDED", "Broken pipe", "coordination service")


def lost_peer(e: BaseException) -> bool:
  """Whether `e` says another process stopped (killed, crashed, unreachable).

  Args:
    e: the exception a collective raised.
  Returns:
    True when its type and message name a lost connection or peer.
  """
  text = f"{type(e).__name__}: {e}"
  return any(k in text for k in _LOST_PEER)


def is_writer() -> bool:
  """Only process 0 writes results, checkpoints and reports.

  Returns:
    Whether this process is process 0 (True with one process).
  """
  return jax.process_index() == 0


def place(tree, sharding):
  """Puts a pytree of arrays on the mesh (every process holds the same values).

  Args:
    tree: a pytree of host arrays (or typed keys), the same on every process.
    sharding: where they go (`runs_sharding` or `replicated`).
  Returns:
    The tree of global `jax.Array`s.
  """
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def one(x):
    x = np.asarray(x) if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
  return jax.tree.map(one, tree)


def fetch(x) -> np.ndarray:
  """A (possibly sharded, possibly multi-host) array as a NumPy array on this host.

  Args:
    x: an array of any shape (gathered from every process when not fully
      addressable).
  Returns:
    The whole array, of `x`'s global shape.
  """
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(jax.device_get(x))  # explicit: allowed under transfer_guard("disallow")


def broadcast_from_writer(value: int) -> int:
  """Process 0's `value` on every process (itself with one process).

  Args:
    value: this process's int.
  Returns:
    Process 0's int.
  """
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils
  return int(multihost_utils.broadcast_one_to_all(np.array(value, np.int32)))
