"""One host device per CPU core, so a sweep on the CPU uses every core.

XLA's CPU backend gains little from a second core on LSTM-sized matmuls, but
two host devices, each running half of the seeds, keep both cores busy. Entry
points call `configure_cpu_devices(sys.argv)` before JAX starts its backend;
it adds `--xla_force_host_platform_device_count=<cores>` to `XLA_FLAGS`
unless:
  - `XLA_FLAGS` already sets a host device count;
  - `--cpu_devices=N` is on the command line (N = 1 keeps one device), or
    `LSTM_INIT_CPU_DEVICES=N` is in the environment.
The flag only shapes the CPU platform; on a GPU or TPU the accelerators are
used as they are.
"""

from __future__ import annotations

import os

FLAG = "--xla_force_host_platform_device_count"


def requested(argv: list[str] | None) -> int | None:
  """The device count asked for on the command line or in the environment.

  Args:
    argv: the command line (`--cpu_devices=N`), or None.

  Returns:
    N, else `LSTM_INIT_CPU_DEVICES`, else None.
  """
  for arg in argv or []:
    if arg.startswith("--cpu_devices="):
      return int(arg.split("=", 1)[1])
  env = os.environ.get("LSTM_INIT_CPU_DEVICES")
  return int(env) if env else None


def configure_cpu_devices(argv: list[str] | None = None) -> int:
  """Sets XLA_FLAGS for `n` host devices (default: one per core); returns n.

  Must run before JAX initializes its backend (before the first computation).

  Args:
    argv: the command line, searched for `--cpu_devices=N`.

  Returns:
    The host device count: the one XLA_FLAGS already sets, else n.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  if FLAG in flags:
    return int(flags.split(FLAG + "=")[1].split()[0])
  n = requested(argv)
  if n is None:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  n = max(1, int(n or 1))
  if n > 1:
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={n}".strip()
  return n
