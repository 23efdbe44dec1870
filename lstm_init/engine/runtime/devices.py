"""One host device per CPU core, so a sweep on the CPU uses every core.

XLA's CPU backend gains little from a second core on LSTM-sized matmuls, but
two host devices, each running half of the seeds, keep both cores busy. Entry
points call `configure_cpu_devices(sys.argv)` before JAX starts its backend;
it adds `--xla_force_host_platform_device_count=<cores>` to `XLA_FLAGS`
unless:
  - `XLA_FLAGS` already sets a host device count;
  - `--cpu_devices=N` is on the command line (N = 1 keeps one device), or
    `LSTM_INIT_CPU_DEVICES=N` is in the environment; N is a whole number from
    1 to the cores this process may use (more devices than cores only cost
    compile time and memory; `XLA_FLAGS` still sets any count, e.g. to test
    sharding on a small machine).
The flag only shapes the CPU platform; on a GPU or TPU the accelerators are
used as they are.
"""

from __future__ import annotations

import os

from lstm_init.errors import ConfigError

FLAG = "--xla_force_host_platform_device_count"
ENV = "LSTM_INIT_CPU_DEVICES"


def cores() -> int:
  """The CPU cores this process may run on (its affinity, else the machine's)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def device_count(name: str, text: str) -> int:
  """A host device count given as text, checked against the cores.

  Args:
    name: where it was given ("--cpu_devices" or "LSTM_INIT_CPU_DEVICES").
    text: the value as given.

  Returns:
    The count, from 1 to `cores()`.

  Raises:
    ConfigError: for a value that is not a whole number, below 1 or above the cores.
  """
  have = cores()
  valid = (f"valid: 1 to {have} (the CPU cores this process may use; XLA_FLAGS={FLAG}=N "
           "sets more, e.g. to test sharding)")
  try:
    n = int(text.strip())
  except ValueError:
    raise ConfigError(f"{name}={text!r} is not a whole number; {valid}") from None
  if n < 1:
    raise ConfigError(f"{name}={n}: at least one host device is needed; {valid}")
  if n > have:
    raise ConfigError(f"{name}={n} is more than the {have} CPU core(s) this process may use; "
                      f"{valid}")
  return n


def requested(argv: list[str] | None) -> int | None:
  """The device count asked for on the command line or in the environment.

  Args:
    argv: the command line (`--cpu_devices=N` or `--cpu_devices N`), or None.

  Returns:
    N, else `LSTM_INIT_CPU_DEVICES`, else None.

  Raises:
    ConfigError: for a count that `device_count` refuses.
  """
  argv = list(argv or [])
  for i, arg in enumerate(argv):
    if arg.startswith("--cpu_devices="):
      return device_count("--cpu_devices", arg.split("=", 1)[1])
    if arg == "--cpu_devices" and i + 1 < len(argv):
      return device_count("--cpu_devices", argv[i + 1])
  env = os.environ.get(ENV)
  return device_count(ENV, env) if env is not None and env.strip() else None


def configure_cpu_devices(argv: list[str] | None = None) -> int:
  """Sets XLA_FLAGS for `n` host devices (default: one per core); returns n.

  Must run before JAX initializes its backend (before the first computation).

  Args:
    argv: the command line, searched for `--cpu_devices=N`.

  Returns:
    The host device count: the one XLA_FLAGS already sets, else n.

  Raises:
    ConfigError: for a `--cpu_devices` or `LSTM_INIT_CPU_DEVICES` that is not a
      whole number from 1 to the cores.
  """
  n = requested(argv)
  flags = os.environ.get("XLA_FLAGS", "")
  if FLAG in flags:
    return int(flags.split(FLAG + "=")[1].split()[0])
  if n is None:
    n = cores()
  if n > 1:
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={n}".strip()
  return n
