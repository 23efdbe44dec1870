"""Devices, hosts and memory: where a sweep's runs go.

The run axis (conditions x seeds) is sharded over a one-dimensional `Mesh` of
all devices (`NamedSharding(mesh, P("runs"))`); the task data is replicated.
Run counts that do not divide the device count are padded with copies of the
last run, whose results are dropped.

Multi-host: every process runs the same command; `initialize()` calls
`jax.distributed.initialize()` when the usual cluster variables are set (or
`LSTM_INIT_COORDINATOR` is), the mesh spans every process's devices, results
are gathered to every process, and only process 0 writes files.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lstm_init.errors import ConfigError

AXIS = "runs"


def initialize() -> None:
  """`jax.distributed.initialize()` for multi-process runs, once, when configured.

  Set `LSTM_INIT_COORDINATOR=host:port`, `LSTM_INIT_NUM_PROCESSES` and
  `LSTM_INIT_PROCESS_ID` (or run under a cluster JAX detects: SLURM, Open MPI,
  Cloud TPU) to join processes into one sweep.
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
  """Whether this process is one of several (`initialize` joined them)."""
  return getattr(initialize, "joined", False)


# What a collective raises when another process of the sweep has gone.
_LOST_PEER = ("Connection reset by peer", "Connection closed by peer", "Gloo", "heartbeat",
              "UNAVAILABLE", "DEADLINE_EXCEEDED", "Broken pipe", "coordination service")


def lost_peer(e: BaseException) -> bool:
  """Whether `e` says another process stopped (killed, crashed, unreachable)."""
  text = f"{type(e).__name__}: {e}"
  return any(k in text for k in _LOST_PEER)


def is_writer() -> bool:
  """Only process 0 writes results, checkpoints and reports."""
  return jax.process_index() == 0


def run_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D mesh over the first `num_devices` devices (0 = all of them)."""
  devices = jax.devices()
  if num_devices < 0 or num_devices > len(devices):
    raise ConfigError(f"devices={num_devices}: this run has {len(devices)} device(s); valid "
                      f"choices: 0 (all) to {len(devices)}")
  return Mesh(np.array(devices[:num_devices or len(devices)]), (AXIS,))


def runs_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def padded(n: int, mesh: Mesh, group: int = 1) -> int:
  """The smallest count >= n that splits evenly over the mesh, in whole groups of
  `group` runs per device (group > 0): a run then always computes in a batch of
  `group`, whatever the number of runs, so its result does not depend on it."""
  d = mesh.size
  per_device = int(math.ceil(n / d))
  if group > 1:
    per_device = int(math.ceil(per_device / group) * group)
  return per_device * d


def place(tree, sharding):
  """Puts a pytree of arrays on the mesh (every process holds the same values)."""
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def one(x):
    x = np.asarray(x) if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
  return jax.tree.map(one, tree)


def fetch(x) -> np.ndarray:
  """A (possibly sharded, possibly multi-host) array as a NumPy array on this host."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


def available_memory_bytes() -> int:
  """Memory this sweep may plan with on one device (or, on the CPU, the machine)."""
  dev = jax.local_devices()[0]
  if dev.platform != "cpu":
    stats = dev.memory_stats() or {}
    if "bytes_limit" in stats:
      return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def memory_budget_bytes(budget_gb: float | None, mesh: Mesh) -> int:
  """The memory one chunk of runs may use, over all devices of the mesh.

  `budget_gb` (per device) if given; otherwise half of the available memory
  per device on accelerators (XLA also needs room for its own buffers), and
  half of the machine's available memory on the CPU, where all host devices
  share one memory.
  """
  on_cpu = jax.local_devices()[0].platform == "cpu"
  if budget_gb is not None:
    if budget_gb <= 0:
      raise ConfigError(f"memory_budget_gb must be > 0, got {budget_gb}")
    per_device = float(budget_gb) * 2 ** 30
    return int(per_device if on_cpu else per_device * mesh.size)
  per_device = 0.5 * available_memory_bytes()
  return int(per_device if on_cpu else per_device * mesh.size)


def broadcast_from_writer(value: int) -> int:
  """Process 0's `value` on every process (itself with one process)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils
  return int(multihost_utils.broadcast_one_to_all(np.array(value, np.int32)))


def seed_group(setting: int) -> int:
  """Runs per vmapped group inside a device: `setting`, or for -1 a rule of thumb
  (the sweep measures instead, `lstm_init.seed_groups`; the benchmarks use this).

  On the CPU one run at a time per device measured fastest (reference
  workload 86 against 68 seed-steps/s for all 32 runs of a device vmapped
  together; benchmarks/throughput.py); accelerators want the whole batch.
  """
  if setting >= 0:
    return setting
  return 1 if jax.local_devices()[0].platform == "cpu" else 0


def in_groups(vfn, group: int):
  """`vfn` (vmapped over the leading axis of its first argument) run group by group.

  The leading axis [n] is cut into [n / group, group]; `lax.map` runs the
  groups one after another, each vmapped. A group's weights then stay in cache
  for a whole time loop instead of every step cycling through all runs'
  weights, which measures faster on the CPU at hidden size 128. n must be a
  multiple of `group` (see `padded`). One group is a loop of one: the same
  program for a run, so the same numbers, however many groups there are.
  """
  def run(tree, *shared):
    n = jax.tree.leaves(tree)[0].shape[0]
    if group <= 0:
      return vfn(tree, *shared)
    cut = jax.tree.map(lambda a: a.reshape((n // group, group) + a.shape[1:]), tree)
    out = jax.lax.map(lambda t: vfn(t, *shared), cut)
    return jax.tree.map(lambda a: a.reshape((n,) + a.shape[2:]), out)
  return run


def per_device(fn, mesh: Mesh, num_shared: int):
  """`fn(runs_tree, *shared)` run by every device on its own shard of the runs.

  The runs axis is split over the mesh (`P("runs")`); the shared arguments are
  replicated. Inside, `fn` sees only its device's runs, so per-device grouping
  (`in_groups`) is local and needs no communication.
  """
  if mesh.size == 1:
    return fn
  return jax.shard_map(fn, mesh=mesh, in_specs=(P(AXIS),) + (P(),) * num_shared,
                       out_specs=P(AXIS), check_vma=False)
