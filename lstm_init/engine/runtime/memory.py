"""Memory: what the host has, and what one chunk of runs may use per device."""

from __future__ import annotations

import os

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
