"""The seed group: how many runs a device computes together, and the padding it needs.

  size = fixed_size(config.seed_group, "cpu")        # the CPU's rule (never a timing)
  record = rule_record(config.seed_group, False, num_groups)  # environment.json's words
  runs = pad_runs(runs, devices=2, size=size)        # whole seed groups on every device

A run always computes in a batch of exactly `size` runs (a seed group,
padded with copies of its last run), each through the same single-device
executable, so a run's bits do not depend on how many runs, chunks, devices
or processes there are. The size is `config.seed_group` when given, else a
fixed rule of the backend; `config.seed_group_timing` asks for a timed choice
instead (`seed_group_timing.choose`), which makes per-seed results depend on
the timing.
"""

from __future__ import annotations

import math
from typing import Any, Sequence, TypeVar

import jax

from lstm_init.engine.runtime import memory

T = TypeVar("T")

# Runs per seed group on each backend when `config.seed_group=-1` (the
# default). A rule of the backend, never a timing, so that a seed's result is a
# function of the command and the kind of machine. On the CPU one run at a
# time keeps its weights in cache through the time loop (measured fastest at
# hidden 128, benchmarks/throughput.py). An accelerator wants many runs in one
# batch: the largest power of two up to 1024 whose programs fit the device's
# memory by XLA's analysis (`runtime.memory.largest_fitting_group`, wired in
# `execute.loop`), a function of the programs and the kind of device.
SEED_GROUP = {"cpu": 1}
ACCELERATOR_SEED_GROUP = memory.MAX_GROUP  # the largest size the accelerators' rule tries


def platform() -> str:
  """The backend of this process's first local device ("cpu", "gpu", "tpu")."""
  return jax.local_devices()[0].platform


def fixed_size(setting: int, backend: str | None = None) -> int:
  """Runs per seed group: `setting` (>= 1), or for -1 the fixed size of the
  backend (`SEED_GROUP`; on an accelerator the most the memory rule tries,
  `ACCELERATOR_SEED_GROUP`: `execute.loop` then fits it to the device).

  Args:
    setting: `config.seed_group` (-1: the backend's size).
    backend: the platform, e.g. "cpu" (None: this process's).
  Returns:
    The group size.
  """
  if setting >= 1:
    return int(setting)
  return SEED_GROUP.get(backend or platform(), ACCELERATOR_SEED_GROUP)


def rule_record(setting: int, timing: bool, num_groups: int,
                backend: str | None = None) -> dict[str, Any]:
  """What environment.json records of the seed groups before they run: the
  size of each condition group and by which rule (None sizes until a timed
  choice is made).

  Args:
    setting: `config.seed_group`.
    timing: `config.seed_group_timing`.
    num_groups: condition groups in the plan.
    backend: the platform (None: this process's).

  Returns:
    {"seed_groups": [size per condition group] or None, "seed_group_rule": words}.
  """
  if timing:
    return {"seed_groups": None, "seed_group_rule": "timed (per-seed results depend on it)"}
  backend = backend or platform()
  if setting < 1 and backend != "cpu":
    return {"seed_groups": None, "seed_group_rule": "the largest power of two <= "
            f"{ACCELERATOR_SEED_GROUP} whose programs fit the device (decided when they compile)"}
  size = fixed_size(setting, backend)
  rule = (f"given (seed_group={setting})" if setting >= 1 else
          f"the backend's fixed size ({backend}: {size})")
  return {"seed_groups": [size] * num_groups, "seed_group_rule": rule}


def padded(n: int, devices: int, size: int = 1) -> int:
  """The smallest count >= n that splits evenly over `devices`, in whole seed
  groups of `size` runs per device.

  Args:
    n: the number of runs.
    devices: devices the runs are spread over.
    size: runs per seed group.
  Returns:
    The padded run count.
  """
  per_device = int(math.ceil(n / devices))
  per_device = int(math.ceil(per_device / max(1, size)) * max(1, size))
  return per_device * devices


def pad(items: Sequence[T], n: int) -> list[T]:
  """`items` (at least one) followed by copies of its last item, `n` in all."""
  return list(items) + [items[-1]] * (n - len(items))


def pad_runs(runs: Sequence[T], devices: int, size: int) -> list[T]:
  """Runs padded with copies of the last to whole seed groups on every device
  (`padded`); the copies' results are dropped."""
  return pad(runs, padded(len(runs), devices, size))
