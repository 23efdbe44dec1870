"""A chunk's runs as seed groups on the devices, and the programs that run them.

  mesh = run_mesh(0)                                   # every device, axis "runs"
  groups = SeedGroups.build(mesh, size, n, make)       # seed groups of `size` runs
  compiled = SeedGroupProgram(jax.vmap(fn), mesh).compile(groups.first)
  out = compiled(groups)                               # a SeedGroups of outputs

Device i of the run mesh holds its share of the runs as seed groups of
exactly `size` runs (`seed_group`), and every seed group goes through the
same single-device executable, so a run's bits do not depend on how many
runs, devices or processes there are. The task data is replicated.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, SingleDeviceSharding

from lstm_init.core.keys import is_key
from lstm_init.engine.runtime.processes import fetch
from lstm_init.errors import ConfigError

AXIS = "runs"


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




class SeedGroups:
  """A chunk's runs as groups of exactly `size` runs, each group on one device.

    groups = SeedGroups.build(mesh, size, n, make)   # make(rows, device) -> one group
    groups = SeedGroups.from_host(arrays, mesh, size, template)
    host = groups.fetch()                              # every run, stacked, as NumPy

  Device i of the mesh holds rows [i * n / d, (i + 1) * n / d) of the runs, cut
  into groups in order. A group is what one call of a `SeedGroupProgram` computes;
  groups are made one by one and never stacked on a device (a chunk of
  thousands of runs would otherwise compile split and concatenate programs of
  thousands of operands).
  """

  def __init__(self, mesh: Mesh, size: int, by_device: dict[Any, list[Any]]):
    """Groups already made on their devices.

    Args:
      mesh: the run mesh.
      size: runs per group.
      by_device: {device: [its groups' trees, in run order]}, [size, ...] leaves.
    """
    self.mesh, self.size, self.by_device = mesh, size, by_device

  @classmethod
  def build(cls, mesh: Mesh, size: int, n: int, make) -> "SeedGroups":
    """Groups of the runs [0, n) (n: a whole number of groups per device), each
    made by `make(range of rows, device)` on the device that holds it.

    Args:
      mesh: the run mesh.
      size: runs per group.
      n: all runs, a multiple of `size` * devices (`seed_group.padded`).
      make: (range of rows, device) -> that group's tree, [size, ...] leaves.
    Returns:
      The `SeedGroups`.
    """
    index = runs_sharding(mesh).addressable_devices_indices_map((n,))
    return cls(mesh, size, {d: [make(range(i, i + size), d)
                                for i in range(sl[0].start or 0, sl[0].stop or n, size)]
                            for d, sl in index.items()})

  @classmethod
  def from_host(cls, tree, mesh: Mesh, size: int, template) -> "SeedGroups":
    """Groups from stacked host arrays (`fetch`'s layout: typed keys as their key
    data), typed like `template` (one group's tree).

    Args:
      tree: a pytree of [n, ...] host arrays (typed keys as [n, ...] key data).
      mesh: the run mesh.
      size: runs per group.
      template: one group's tree, [size, ...] leaves: which leaves are keys.
    Returns:
      The `SeedGroups`.
    """
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
  def split(cls, tree, mesh: Mesh, size: int) -> "SeedGroups":
    """Groups of stacked runs sharded over the mesh (a few groups: one slice each).

    Args:
      tree: a pytree of [n, ...] arrays sharded like `runs_sharding(mesh)`.
      mesh: the run mesh.
      size: runs per group.
    Returns:
      The `SeedGroups`.
    """
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
    every group's leaves (a single host sync).

    Returns:
      The tree of one group, each leaf a [runs, ...] NumPy array.
    """
    if jax.process_count() > 1:
      return jax.tree.map(lambda x: fetch(jax.random.key_data(x) if is_key(x) else x),
                          self.join())
    per_group = [jax.tree.leaves(t) for ts in self.by_device.values() for t in ts]
    treedef = jax.tree.structure(self.first)
    arrays = [[jax.random.key_data(x) if is_key(x) else x for x in g] for g in per_group]
    host = jax.device_get(arrays)
    return jax.tree.unflatten(treedef, [np.concatenate([np.asarray(g[i]) for g in host])
                                        for i in range(treedef.num_leaves)])

  def map(self, fn) -> "SeedGroups":
    """`fn` applied to every group's tree (host-side restructuring, e.g. `t[0]`).

    Args:
      fn: one group's tree -> another tree, applied on the host.
    Returns:
      The new `SeedGroups`.
    """
    return SeedGroups(self.mesh, self.size,
                        {d: [fn(t) for t in ts] for d, ts in self.by_device.items()})

  @property
  def first(self):
    """One group's tree (the shapes every group has).

    Returns:
      The first device's first group: leaves [size, ...].
    """
    return next(iter(self.by_device.values()))[0]

  def join(self):
    """The runs as arrays sharded over the mesh (runs on the first axis).

    Returns:
      The tree of one group, each leaf a [runs, ...] `jax.Array` sharded like
      `runs_sharding(mesh)`.
    """
    per_device = [[jax.tree.leaves(t) for t in ts] for ts in self.by_device.values()]
    treedef = jax.tree.structure(self.first)
    sharding = runs_sharding(self.mesh)

    def whole(i):
      parts = [g[0][i] if len(g) == 1 else jnp.concatenate([leaves[i] for leaves in g])
               for g in per_device]
      shape = (parts[0].shape[0] * self.mesh.size,) + parts[0].shape[1:]
      return jax.make_array_from_single_device_arrays(shape, sharding, parts)

    return jax.tree.unflatten(treedef, [whole(i) for i in range(treedef.num_leaves)])


def _on(x, device):
  """`x` (an array replicated over the mesh, or a host array) on one device."""
  if isinstance(x, jax.Array):
    return next(s.data for s in x.addressable_shards if s.device == device)
  return jax.device_put(x, device)


class SeedGroupProgram:
  """A program of one group of runs, run group by group on every device.

    program = SeedGroupProgram(jax.vmap(fn, in_axes=(0, None)), mesh)
    compiled = program.compile(group, data)     # group: one group's arrays or shapes
    out = compiled(groups, data)                # a SeedGroups of fn's outputs

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
    """Jits `fn` for the devices of `mesh`.

    Args:
      fn: one group's program: (group's tree, *shared) -> outputs.
      mesh: the run mesh.
      donate: the group's state (the first argument) is donated, its buffers
        reused for the outputs (a piece of training replaces the state it was given).
    """
    self.jitted = jax.jit(fn, donate_argnums=(0,) if donate else ())
    self.mesh = mesh

  def compile(self, group, *shared) -> "CompiledSeedGroupProgram":
    """Compiles every local device's copy for `group`'s shapes.

    Args:
      group: one group's arrays or shapes, [size, ...] leaves.
      *shared: the other arguments (data), the same for every group.
    Returns:
      The `CompiledSeedGroupProgram`.
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
      return CompiledSeedGroupProgram({d: f.result() for d, f in futures.items()})


def _abstract(x, device):
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=SingleDeviceSharding(device))


class CompiledSeedGroupProgram:
  """The compiled copies of a `SeedGroupProgram`, one per local device."""

  def __init__(self, executables: dict):
    """The copies of one compiled program.

    Args:
      executables: {device: its compiled executable}, every local device.
    """
    self.executables = executables

  def memory_analysis(self):
    """XLA's memory analysis of one group's program (every copy is the same).

    Returns:
      The first executable's `memory_analysis()` (bytes of arguments, outputs,
      temporaries).
    """
    return next(iter(self.executables.values())).memory_analysis()

  def __call__(self, groups: SeedGroups, *shared) -> SeedGroups:
    """Runs every group through its device's executable, round-robin over devices.

    Args:
      groups: the runs' groups, shaped as compiled.
      *shared: the other arguments, replicated over the mesh or on the host.
    Returns:
      The outputs as `SeedGroups`, group for group.
    """
    local = {d: [_on(x, d) for x in jax.tree.leaves(shared)] for d in groups.by_device}
    shared_def = jax.tree.structure(shared)
    args = {d: jax.tree.unflatten(shared_def, v) for d, v in local.items()}
    out: dict[Any, list[Any]] = {d: [] for d in groups.by_device}
    for g in range(max(len(ts) for ts in groups.by_device.values())):
      for d, ts in groups.by_device.items():  # round-robin: devices compute in parallel
        out[d].append(self.executables[d](ts[g], *args[d]))
    return SeedGroups(groups.mesh, groups.size, out)
