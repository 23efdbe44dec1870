"""Devices, hosts and memory: where a sweep's runs go.

The run axis (conditions x seeds) is sharded over a one-dimensional `Mesh` of
all devices (`NamedSharding(mesh, P("runs"))`); the task data is replicated.
Run counts that do not divide the device count are padded with copies of the
last run, whose results are dropped.

Multi-host: every process runs the same command; `initialize()` calls
`jax.distributed.initialize()` when the usual cluster variables are set (or
`LSTM_INIT_COORDINATOR` is), the mesh spans every process's devices, results
are gathered to every process, and only process 0 writes files.

Within a device, runs compute in groups of `seed_group` runs, each group
through one single-device executable: `lstm_init.engine.device_groups`.
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
  """The sharding of arrays with runs on the first axis, split over `mesh`.

  Args:
    mesh: the run mesh (`run_mesh`).
  Returns:
    `NamedSharding(mesh, P("runs"))`: [runs, ...] arrays, runs split over devices.
  """
  return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding of arrays every device of `mesh` holds whole.

  Args:
    mesh: the run mesh (`run_mesh`).
  Returns:
    `NamedSharding(mesh, P())`.
  """
  return NamedSharding(mesh, P())


def padded(n: int, mesh: Mesh, group: int = 1) -> int:
  """The smallest count >= n that splits evenly over the mesh, in whole groups of
  `group` runs per device (group > 0): a run then always computes in a batch of
  `group`, whatever the number of runs, so its result does not depend on it.

  Args:
    n: the number of runs.
    mesh: the run mesh.
    group: runs per vmapped group (`seed_group`).
  Returns:
    The padded run count.
  """
  d = mesh.size
  per_device = int(math.ceil(n / d))
  if group > 1:
    per_device = int(math.ceil(per_device / group) * group)
  return per_device * d


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


def available_memory_bytes() -> int:
  """Memory this sweep may plan with on one device (or, on the CPU, the machine).

  Returns:
    Bytes: the first local device's limit less what is in use, or on the CPU
    (or without memory stats) `host_memory_bytes()`.
  """
  dev = jax.local_devices()[0]
  if dev.platform != "cpu":
    stats = dev.memory_stats() or {}
    if "bytes_limit" in stats:
      return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
  return host_memory_bytes()


def host_memory_bytes() -> int:
  """The host's available memory (where the records of every run are kept).

  Returns:
    Bytes: `MemAvailable` of /proc/meminfo, else the free pages' size.
  """
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
    budget_gb: GiB per device (`config.memory_budget_gb`), or None.
    mesh: the run mesh.
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
    setting: `config.seed_group` (-1: the backend's size).
    platform: the backend, e.g. "cpu" (None: the first local device's).
  Returns:
    The group size.
  """
  if setting >= 1:
    return int(setting)
  platform = platform or jax.local_devices()[0].platform
  return SEED_GROUP.get(platform, ACCELERATOR_SEED_GROUP)
