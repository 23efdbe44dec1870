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
from typing import Any

import jax
import jax.numpy as jnp
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
  """A 1-D mesh over the first `num_devices` devices (0 = all of them).

  Args:
    num_devices: devices used, 0 to `len(jax.devices())`.
  Returns:
    The `Mesh`, axis "runs".
  Raises:
    ConfigError: for a count outside that range.
  """
  devices = jax.devices()
  if num_devices < 0 or num_devices > len(devices):
    raise ConfigError(f"devices={num_devices}: this run has {len(devices)} device(s); valid "
                      f"choices: 0 (all) to {len(devices)}")
  return Mesh(np.array(devices[:num_devices or len(devices)]), (AXIS,))


def runs_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding of arrays with runs on the first axis, split over `mesh`."""
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding of arrays every device of `mesh` holds whole."""
  return NamedSharding(mesh, P())


def padded(n: int, mesh: Mesh, group: int = 1) -> int:
  """The smallest count >= n that splits evenly over the mesh, in whole groups of
  `group` runs per device (group > 0): a run then always computes in a batch of
  `group`, whatever the number of runs, so its result does not depend on it.

  Args:
    n: runs; mesh: the run mesh; group: runs per group.
  Returns:
    The padded run count.
  """
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
  return np.asarray(jax.device_get(x))  # explicit: allowed under transfer_guard("disallow")


def available_memory_bytes() -> int:
  """Memory this sweep may plan with on one device (or, on the CPU, the machine)."""
  dev = jax.local_devices()[0]
  if dev.platform != "cpu":
    stats = dev.memory_stats() or {}
    if "bytes_limit" in stats:
      return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
  return host_memory_bytes()


def host_memory_bytes() -> int:
  """The host's available memory (where the records of every run are kept)."""
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

  Args:
    budget_gb: GiB per device, or None; mesh: the run mesh.
  Returns:
    The budget in bytes.
  Raises:
    ConfigError: when `budget_gb <= 0`.
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
  fixed size of the backend (`SEED_GROUP`, else `ACCELERATOR_SEED_GROUP`).

  Args:
    setting: `config.seed_group`; platform: the backend (None: the first device's).
  Returns:
    The group size.
  """
  if setting >= 1:
    return int(setting)
  platform = platform or jax.local_devices()[0].platform
  return SEED_GROUP.get(platform, ACCELERATOR_SEED_GROUP)


class DeviceGroups:
  """A chunk's runs as groups of exactly `size` runs, each group on one device.

    groups = DeviceGroups.build(mesh, size, n, make)   # make(rows, device) -> one group
    groups = DeviceGroups.from_host(arrays, mesh, size, template)
    host = groups.fetch()                              # every run, stacked, as NumPy

  Device i of the mesh holds rows [i * n / d, (i + 1) * n / d) of the runs, cut
  into groups in order. A group is what one call of a `GroupProgram` computes;
  groups are made one by one and never stacked on a device (a chunk of
  thousands of runs would otherwise compile split and concatenate programs of
  thousands of operands).
  """

  def __init__(self, mesh: Mesh, size: int, by_device: dict[Any, list[Any]]):
    self.mesh, self.size, self.by_device = mesh, size, by_device

  @classmethod
  def build(cls, mesh: Mesh, size: int, n: int, make) -> "DeviceGroups":
    """Groups of the runs [0, n) (n: a whole number of groups per device), each
    made by `make(range of rows, device)` on the device that holds it.

    Args:
      mesh: the run mesh; size: runs per group; n: all runs;
      make: (range of rows, device) -> that group's tree.
    Returns:
      The `DeviceGroups`.
    """
    index = runs_sharding(mesh).addressable_devices_indices_map((n,))
    return cls(mesh, size, {d: [make(range(i, i + size), d)
                                for i in range(sl[0].start or 0, sl[0].stop or n, size)]
                            for d, sl in index.items()})

  @classmethod
  def from_host(cls, tree, mesh: Mesh, size: int, template) -> "DeviceGroups":
    """Groups from stacked host arrays (`fetch`'s layout: typed keys as their key
    data), typed like `template` (one group's tree)."""
    leaves, treedef = jax.tree.flatten(tree)
    kinds = jax.tree.leaves(template)

    def make(rows, d):
      part = [np.asarray(x[rows.start:rows.stop]) for x in leaves]
      placed = jax.device_put(part, d)
      return jax.tree.unflatten(treedef, [
          jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if is_key(t) else x
          for x, t in zip(placed, kinds)])

    return cls.build(mesh, size, leaves[0].shape[0], make)

  @classmethod
  def split(cls, tree, mesh: Mesh, size: int) -> "DeviceGroups":
    """Groups of stacked runs sharded over the mesh (a few groups: one slice each)."""
    leaves, treedef = jax.tree.flatten(tree)

    def make(rows, d):
      local = [next(s for s in x.addressable_shards if s.device == d) for x in leaves]
      start = [s.index[0].start or 0 for s in local]
      return jax.tree.unflatten(treedef, [s.data[rows.start - a:rows.stop - a]
                                          for s, a in zip(local, start)])

    return cls.build(mesh, size, leaves[0].shape[0], make)

  def fetch(self):
    """Every run's arrays on this host, stacked in run order (typed keys as their
    key data), gathered from every process: one explicit `jax.device_get` of
    every group's leaves (a single host sync)."""
    if jax.process_count() > 1:
      return jax.tree.map(lambda x: fetch(jax.random.key_data(x) if is_key(x) else x),
                          self.join())
    per_group = [jax.tree.leaves(t) for ts in self.by_device.values() for t in ts]
    treedef = jax.tree.structure(self.first)
    arrays = [[jax.random.key_data(x) if is_key(x) else x for x in g] for g in per_group]
    host = jax.device_get(arrays)
    return jax.tree.unflatten(treedef, [np.concatenate([np.asarray(g[i]) for g in host])
                                        for i in range(treedef.num_leaves)])

  def map(self, fn) -> "DeviceGroups":
    """`fn` applied to every group's tree (host-side restructuring, e.g. `t[0]`)."""
    return DeviceGroups(self.mesh, self.size,
                        {d: [fn(t) for t in ts] for d, ts in self.by_device.items()})

  @property
  def first(self):
    """One group's tree (the shapes every group has)."""
    return next(iter(self.by_device.values()))[0]

  def join(self):
    """The runs as arrays sharded over the mesh (runs on the first axis)."""
    per_device = [[jax.tree.leaves(t) for t in ts] for ts in self.by_device.values()]
    treedef = jax.tree.structure(self.first)
    sharding = runs_sharding(self.mesh)

    def whole(i):
      parts = [g[0][i] if len(g) == 1 else jnp.concatenate([leaves[i] for leaves in g])
               for g in per_device]
      shape = (parts[0].shape[0] * self.mesh.size,) + parts[0].shape[1:]
      return jax.make_array_from_single_device_arrays(shape, sharding, parts)

    return jax.tree.unflatten(treedef, [whole(i) for i in range(treedef.num_leaves)])


def is_key(x) -> bool:
  """Whether `x` (an array or its shape) holds typed PRNG keys."""
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _on(x, device):
  """`x` (an array replicated over the mesh, or a host array) on one device."""
  if isinstance(x, jax.Array):
    return next(s.data for s in x.addressable_shards if s.device == device)
  return jax.device_put(x, device)


class GroupProgram:
  """A program of one group of runs, run group by group on every device.

    program = GroupProgram(jax.vmap(fn, in_axes=(0, None)), mesh)
    compiled = program.compile(group, data)     # group: one group's arrays or shapes
    out = compiled(groups, data)                # a DeviceGroups of fn's outputs

  Every group of every device goes through the same single-device executable,
  compiled for exactly `size` runs: a run's program does not depend on how
  many runs there are, how they are chunked, on how many devices or in how
  many processes. Neither an SPMD-partitioned program nor a loop over groups
  inside one program gives that (measured: both change a training loss in its
  last bits, partitioning between 1 and 2 devices, a loop between 2 and 96
  runs). Each device's copy is compiled in a thread of its own; calls are
  dispatched round-robin over the devices so that they compute in parallel.
  """

  def __init__(self, fn, mesh: Mesh, donate: bool = False):
    """`donate`: the group's state (the first argument) is donated, its buffers
    reused for the outputs (a piece of training replaces the state it was given)."""
    self.jitted = jax.jit(fn, donate_argnums=(0,) if donate else ())
    self.mesh = mesh

  def compile(self, group, *shared) -> "CompiledGroupProgram":
    """Compiles every local device's copy for `group`'s shapes.

    Args:
      group: one group's arrays or shapes; *shared: the other arguments (data).
    Returns:
      The `CompiledGroupProgram`.
    """
    devices = list(runs_sharding(self.mesh).addressable_devices_indices_map(
        (self.mesh.size,)))
    leaves, treedef = jax.tree.flatten(group)

    def args(d):
      one = [jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=SingleDeviceSharding(d))
             for x in leaves]
      return jax.tree.unflatten(treedef, one), jax.tree.map(lambda x: _abstract(x, d), shared)

    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
      futures = {d: pool.submit(lambda a: self.jitted.lower(a[0], *a[1]).compile(), args(d))
                 for d in devices}
      return CompiledGroupProgram({d: f.result() for d, f in futures.items()})


def _abstract(x, device):
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=SingleDeviceSharding(device))


class CompiledGroupProgram:
  """The compiled copies of a `GroupProgram`, one per local device."""

  def __init__(self, executables: dict):
    self.executables = executables

  def memory_analysis(self):
    """XLA's memory analysis of one group's program (every copy is the same)."""
    return next(iter(self.executables.values())).memory_analysis()

  def __call__(self, groups: DeviceGroups, *shared) -> DeviceGroups:
    local = {d: [_on(x, d) for x in jax.tree.leaves(shared)] for d in groups.by_device}
    shared_def = jax.tree.structure(shared)
    args = {d: jax.tree.unflatten(shared_def, v) for d, v in local.items()}
    out: dict[Any, list[Any]] = {d: [] for d in groups.by_device}
    for g in range(max(len(ts) for ts in groups.by_device.values())):
      for d, ts in groups.by_device.items():  # round-robin: devices compute in parallel
        out[d].append(self.executables[d](ts[g], *args[d]))
    return DeviceGroups(groups.mesh, groups.size, out)
