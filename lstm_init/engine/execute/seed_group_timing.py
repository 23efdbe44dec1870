"""How many runs a device vmaps at once (`seed_group`), chosen by timing when asked.

By default (`config.seed_group=-1`) the size is a fixed rule of the backend
(`seed_group`: 1 on the CPU; on GPUs and TPUs the largest power of two up to 1024
whose programs fit the device), so a seed's
result follows from the command and the kind of machine alone. Timing is
there for a user who asks for it by name (`config.seed_group_timing=True`):
the loop times two steps of the group's training program for each candidate
size (`candidates`) on a fixed set of runs per device (the group's runs,
repeated: the same whatever the sweep's size), keeps the fastest per
run-step, and logs the times. The choice is remembered in the compilation
cache's folder (`seed_groups.json`), keyed by the machine and the program;
the sweep state records it, so a resumed sweep uses the same.

A run computes in a batch of exactly `seed_group` runs (padded), so with any
fixed size a seed's result is the same bits alone or among any number of
seeds (tested). Different sizes compute the same numbers in another order:
they agree to float rounding per step (1e-7), which a long, chaotic training
amplifies into other per-seed results. So a timed choice makes per-seed
results depend on a timing; the log says so and names the size, and
`environment.json` records it (`seed_groups`) for `--config.seed_group=<n>`
and `experiments.reproduce` to repeat.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable

import jax

from lstm_init import records
from lstm_init.engine.execute.programs import ConditionGroupPrograms
from lstm_init.engine.execute.seed_group import pad_runs
from lstm_init.engine.runtime import processes
from lstm_init.engine.spec.plan import SweepPlan

CPU_CANDIDATES = (1, 2, 4, 8)
ACCELERATOR_CANDIDATES = (128, 256, 512, 1024, 2048)
TIMED_RUNS_PER_DEVICE = 16
TIMED_STEPS = 2
CACHE_FILE = "seed_groups.json"
DEPENDS = ("per-seed results depend on this timed choice (another size computes in another "
           "order); --config.seed_group=<n> repeats it")


def candidates(platform: str) -> tuple[int, ...]:
  """The sizes timed on a backend.

  Args:
    platform: the JAX platform name ("cpu", "gpu", "tpu").

  Returns:
    `CPU_CANDIDATES` on the CPU, else `ACCELERATOR_CANDIDATES`.
  """
  return CPU_CANDIDATES if platform == "cpu" else ACCELERATOR_CANDIDATES


def cache_path() -> str | None:
  """Where timed choices are remembered (None: the compilation cache is off).

  Returns:
    `seed_groups.json` in the compilation cache's folder, or None.
  """
  folder = jax.config.jax_compilation_cache_dir
  return os.path.join(folder, CACHE_FILE) if folder else None


def _cache_key(plan: SweepPlan, g: int, mesh) -> str:
  dev = jax.devices()[0]
  what = json.dumps([jax.__version__, dev.platform, dev.device_kind, mesh.size,
                     plan.group_keys[g]])
  return hashlib.sha256(what.encode()).hexdigest()[:24]


def _remembered(key: str) -> int | None:
  path = cache_path()
  if path is None or not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      return json.load(f).get(key)
  except (OSError, ValueError):
    return None


def _remember(key: str, choice: int) -> None:
  path = cache_path()
  if path is None or not processes.is_writer():
    return
  known = {}
  if os.path.isfile(path):
    try:
      with open(path) as f:
        known = json.load(f)
    except (OSError, ValueError):
      pass
  known[key] = choice
  records.write_json(path, known)


def choose(plan: SweepPlan, g: int, mesh, data, runs: list[tuple[int, int]],
           log: Callable[[str], None]) -> tuple[int, float]:
  """The fastest runs-at-once per device for group g (see module docstring),
  and the seconds spent compiling the candidates.

  Args:
    plan: the sweep's plan.
    g: the group's index in `plan.groups`.
    mesh: the devices the runs are sharded over.
    data: the group's data, placed on the mesh.
    runs: the group's runs as (condition, seed row) pairs.
    log: where the timings go.

  Returns:
    (size, compile seconds).
  """
  key = _cache_key(plan, g, mesh)
  known = _remembered(key)
  if known is not None:
    log(f"seed_group: {known} run(s) at a time per device (timed before; {CACHE_FILE} in "
        f"the compilation cache); {DEPENDS}")
    return known, 0.0
  # The same timing set whatever the sweep's size (its runs, repeated), so the
  # choice depends on the machine and the program only.
  sizes = candidates(jax.devices()[0].platform)
  per_device = max(TIMED_RUNS_PER_DEVICE, max(sizes))
  timed = [runs[i % len(runs)] for i in range(per_device * mesh.size)]
  per_run_step, compile_s = {}, 0.0
  for c in sizes:  # (compiling them in threads measured slower on 2 cores)
    programs = ConditionGroupPrograms(plan, plan.groups[g], mesh, c)
    groups = programs.init_groups(pad_runs(timed, mesh.size, c))
    step = lambda: jax.block_until_ready(
        jax.tree.leaves(programs.run(("train", TIMED_STEPS), groups, data).by_device))
    step()  # compiles; the first call allocates
    compile_s += programs.compile_s
    start = time.perf_counter()
    step()
    per_run_step[c] = (time.perf_counter() - start) / (len(timed) * TIMED_STEPS)
  # Every process must make the same choice: process 0's times decide.
  best = int(processes.broadcast_from_writer(min(per_run_step, key=per_run_step.get)))
  log("seed_group: " + ", ".join(f"{c}: {1e6 * t:.0f} us" for c, t in per_run_step.items())
      + f" per run-step on {len(timed)} runs -> {best} at a time per device; {DEPENDS}")
  _remember(key, best)
  return best, compile_s
