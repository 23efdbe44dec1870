"""Memory: what the host has, what one chunk of runs may use per device, and the
accelerators' seed group (the largest that fits)."""

from __future__ import annotations

import os
from typing import Callable

import jax
from jax.sharding import Mesh

from lstm_init.errors import ConfigError


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


# The seed-group rule on accelerators: powers of two up to this many runs.
MAX_GROUP = 1024


def largest_fitting_group(memory: Callable[[int], tuple[int, int]], budget: int,
                          limit: int = MAX_GROUP) -> int:
  """The largest power of two, up to `limit`, whose group of runs fits `budget`.

  A group of `n` runs fits when `n * held + temporaries <= budget`, both
  from XLA's analysis of the programs compiled for `n` runs. Sizes are tried
  from `limit` down, so usually one size is compiled. The result is a
  function of the programs and the budget, never of a timing.

  Args:
    memory: n -> (bytes each run holds, temporaries of the group's program).
    budget: bytes one device may use for one group.
    limit: the largest size (a power of two).

  Returns:
    The size; 1 when no size fits (the chunk planner then refuses it in one line).
  """
  if limit < 1 or limit & (limit - 1):
    raise ValueError(f"limit must be a power of two >= 1, got {limit}")
  size = limit
  while size > 1:
    held, temporaries = memory(size)
    if size * held + temporaries <= budget:
      return size
    size //= 2
  return 1


def device_memory(device, default: int = 16 * 2 ** 30) -> int:
  """A device's memory limit in bytes (`memory_stats()["bytes_limit"]`), or
  `default` where the device reports none (the CPU).

  Args:
    device: a `jax.Device`.
    default: bytes assumed without a report.

  Returns:
    Bytes.
  """
  stats = device.memory_stats() or {}
  return int(stats.get("bytes_limit", default))


def group_budget(budget_gb: float | None, bytes_limit: int) -> int:
  """The budget the seed-group rule uses on an accelerator: the command's, else
  half the device's memory limit (not what is free now: a fixed share of the
  kind of device).

  Args:
    budget_gb: `config.memory_budget_gb` (GiB), or None.
    bytes_limit: the device's `memory_stats()["bytes_limit"]`.

  Returns:
    Bytes.
  """
  return int(budget_gb * 2 ** 30) if budget_gb else int(bytes_limit) // 2


def describe_group_rule(size: int, budget: int, limit: int = MAX_GROUP) -> str:
  """environment.json's `seed_group_rule` for a size the rule chose.

  Args:
    size: `largest_fitting_group`'s result.
    budget: the budget it used, bytes.
    limit: the largest size tried.

  Returns:
    The rule and its result, in words.
  """
  return (f"the largest power of two <= {limit} whose programs fit {budget / 2 ** 30:.2f} GiB "
          f"per device by XLA's memory analysis: {size}")
