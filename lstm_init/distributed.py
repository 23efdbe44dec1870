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

import concurrent.futures
import math
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, SingleDeviceSharding

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


# Runs per vmapped group on each backend when `config.seed_group=-1` (the
# default). A rule of the backend, never a timing, so that a seed's result is a
# function of the command and the kind of machine. On the CPU one run at a
# time keeps its weights in cache through the time loop (measured fastest at
# hidden 128, benchmarks/throughput.py); an accelerator wants many runs in one
# batch, and 1024 runs of the default sizes fill one.
SEED_GROUP = {"cpu": 1}
ACCELERATOR_SEED_GROUP = 1024


def seed_group(setting: int, platform: str | None = None) -> int:
  """Runs per vmapped group inside a device: `setting` (>= 1), or for -1 the
  fixed size of the backend (`SEED_GROUP`, else `ACCELERATOR_SEED_GROUP`)."""
  if setting >= 1:
    return int(setting)
  platform = platform or jax.local_devices()[0].platform
  return SEED_GROUP.get(platform, ACCELERATOR_SEED_GROUP)


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


class PerDevice:
  """A program of one device's runs, run by every device of the mesh on its shard.

    program = PerDevice(fn, mesh).compile(runs, *shared)   # runs: sharded P("runs")
    out = program(runs, *shared)                             # sharded the same way

  Each local device runs the same single-device executable on its own shard
  of the runs (the shared arguments are replicated); the outputs are put back
  together as arrays sharded over the mesh, without a copy. There is no SPMD
  partitioning: a partitioned program compiles differently from a
  one-device one (measured: last-bit differences in a training loss between
  1 and 2 devices), so a seed's bits would depend on the device count. Here
  the program a run goes through is the same on 1 device or on 64, in one
  process or in several (tested). Every device's copy is compiled in a
  thread of its own.
  """

  def __init__(self, fn, mesh: Mesh):
    self.jitted = jax.jit(fn)
    self.mesh = mesh
    self.sharding = runs_sharding(mesh)

  def _local(self, tree, shared):
    """{device: (its shard of `tree`, its copy of `shared`)}, in mesh order."""
    leaves, treedef = jax.tree.flatten(tree)
    shared_leaves, shared_def = jax.tree.flatten(shared)
    n = leaves[0].shape[0]
    devices = list(self.sharding.addressable_devices_indices_map((n,)))

    def shard(x, d, whole: bool):
      if isinstance(x, jax.ShapeDtypeStruct):
        shape = x.shape if whole else (n // self.mesh.size,) + x.shape[1:]
        return jax.ShapeDtypeStruct(shape, x.dtype, sharding=SingleDeviceSharding(d))
      return next(s.data for s in x.addressable_shards if s.device == d)

    return {d: (jax.tree.unflatten(treedef, [shard(x, d, False) for x in leaves]),
                jax.tree.unflatten(shared_def, [shard(x, d, True) for x in shared_leaves]))
            for d in devices}

  def compile(self, tree, *shared) -> "CompiledPerDevice":
    """Compiles every local device's copy (arrays or `ShapeDtypeStruct`s)."""
    local = self._local(tree, shared)
    with concurrent.futures.ThreadPoolExecutor(len(local)) as pool:
      futures = {d: pool.submit(lambda a: self.jitted.lower(a[0], *a[1]).compile(), args)
                 for d, args in local.items()}
      return CompiledPerDevice(self, {d: f.result() for d, f in futures.items()})


class CompiledPerDevice:
  """The compiled copies of a `PerDevice` program, one per local device."""

  def __init__(self, program: PerDevice, executables: dict):
    self.program, self.executables = program, executables

  def memory_analysis(self):
    """XLA's memory analysis of one device's copy (they are all the same)."""
    return next(iter(self.executables.values())).memory_analysis()

  def __call__(self, tree, *shared):
    local = self.program._local(tree, shared)
    outs = {d: self.executables[d](t, *s) for d, (t, s) in local.items()}
    per_device = [jax.tree.flatten(o) for o in outs.values()]
    treedef, size = per_device[0][1], self.program.mesh.size

    def whole(i):
      parts = [leaves[i] for leaves, _ in per_device]
      shape = (parts[0].shape[0] * size,) + parts[0].shape[1:]
      return jax.make_array_from_single_device_arrays(shape, self.program.sharding, parts)

    return jax.tree.unflatten(treedef, [whole(i) for i in range(len(per_device[0][0]))])
