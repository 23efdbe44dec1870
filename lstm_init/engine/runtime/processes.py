"""The processes of a sweep: joining them, who writes, what they exchange.

Multi-host: every process runs the same command; `initialize()` calls
`jax.distributed.initialize()` when the usual cluster variables are set (or
`LSTM_INIT_COORDINATOR` is), the mesh spans every process's devices, results
are gathered to every process, and only process 0 writes files.
"""

from __future__ import annotations

import os

import jax
import numpy as np


def initialize() -> None:
  """`jax.distributed.initialize()` for multi-process runs, once, when configured.

  Set `LSTM_INIT_COORDINATOR=host:port`, `LSTM_INIT_NUM_PROCESSES` and
  `LSTM_INIT_PROCESS_ID` (or run under a cluster JAX detects: SLURM, Open MPI,
  Cloud TPU) to join processes into one sweep.

  Returns:
    None. Later calls do nothing; `joined()` tells whether processes joined.
  """
  if getattr(initialize, "done", False):
    return
  coord = os.environ.get("LSTM_INIT_COORDINATOR")
  if coord:
    jax.distributed.initialize(coordinator_address=coord,
                               num_processes=int(os.environ["LSTM_INIT_NUM_PROCESSES"]),
                               process_id=int(os.environ["LSTM_INIT_PROCESS_ID"]))
    initialize.joined = True
  elif any(v in os.environ for v in ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE")) and \
      int(os.environ.get("SLURM_NTASKS", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1:
    jax.distributed.initialize()
    initialize.joined = True
  initialize.done = True


def joined() -> bool:
  """Whether this process is one of several (`initialize` joined them).

  Returns:
    True after `initialize` called `jax.distributed.initialize()`.
  """
  return getattr(initialize, "joined", False)


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
