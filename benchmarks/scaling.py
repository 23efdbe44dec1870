"""How a seed sweep scales with seeds on whatever backend JAX finds.

  python -m benchmarks.scaling                      # reference workload, 1 to 4096 seeds
  python -m benchmarks.scaling --smoke              # seconds on a CPU (CI)

For each seed count it compiles the whole training (`benchmarks.workload`:
the reference LSTM, Adam, 1 to 4096 seeds vmapped, sharded over the devices
as the sweep shards them, `seed_group` as the sweep chooses), then times one
run of the compiled program, and records compile time, wall time,
seed-steps/s, XLA's memory analysis and the device's peak memory. A
`torch.nn.LSTM` loop over seeds runs on the same device (cuDNN on a GPU);
its time grows with the seeds, so it is timed on a few seeds and scaled.
Writes JSON and a log-log figure of time against seeds (`--out`, `--figure`).
"""

import os
import sys

from lstm_init.engine.runtime import devices as _devices

_devices.configure_cpu_devices(sys.argv)  # before JAX starts its backend

import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.workload import (WORKLOADS, flops_per_seed_step, make_train, sweep_program,  # noqa: E402
                                 torch_seconds)
from lstm_init.engine.execute import placement, seed_group  # noqa: E402

_SEEDS = flags.DEFINE_list("seeds", ["1", "64", "1024", "4096"], "Seed counts.")
_STEPS = flags.DEFINE_integer("steps", 100, "Training steps per seed.")
_WORKLOAD = flags.DEFINE_enum("workload", "reference", list(WORKLOADS), "Workload.")
_TORCH_SEEDS = flags.DEFINE_integer("torch_seeds", 3, "Seeds timed in the torch loop.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny workload, 1 and 4 seeds, 5 steps (CI).")
_OUT = flags.DEFINE_string("out", "benchmarks/scaling.json", "JSON output path.")
_FIGURE = flags.DEFINE_string("figure", "benchmarks/scaling.png", "Figure path ('' = none).")
flags.DEFINE_integer("cpu_devices", None, "Host devices on the CPU (default: one per core).")


def peak_bytes() -> float:
  stats = jax.local_devices()[0].memory_stats() or {}
  return float(stats.get("peak_bytes_in_use", float("nan")))


def time_seeds(w, steps: int, seeds: int) -> dict:
  """Compile and run `seeds` runs of the workload as a sweep would."""
  train = make_train(w, steps)
  mesh = placement.run_mesh(0)
  if seeds % mesh.size:
    mesh = placement.run_mesh(1)
  group = seed_group.fixed_size(-1)
  run, compiled, compile_s = sweep_program(train, seeds, mesh, group)
  t = time.perf_counter()
  losses = jax.block_until_ready(run())
  first_s = time.perf_counter() - t
  t = time.perf_counter()
  jax.block_until_ready(run())
  run_s = time.perf_counter() - t
  m = compiled.memory_analysis()
  return {"seeds": seeds, "devices": mesh.size, "seed_group": group, "compile_s": compile_s,
          "first_call_s": first_s, "run_s": run_s, "seed_steps_per_s": seeds * steps / run_s,
          "gflops": seeds * steps * flops_per_seed_step(w) / run_s / 1e9,
          "xla_bytes": None if m is None else int(m.temp_size_in_bytes
                                                  + m.argument_size_in_bytes
                                                  + m.output_size_in_bytes),
          "device_peak_bytes": peak_bytes(),
          "finite": bool(np.isfinite(np.asarray(losses)).all())}


def time_torch(w, steps: int, seeds: int) -> dict | None:
  try:
    import torch
  except ImportError:
    return None
  device = "cuda" if torch.cuda.is_available() else "cpu"
  if device == "cpu":
    torch.set_num_threads(os.cpu_count() or 1)
    torch.set_flush_denormal(True)
  per_seed = torch_seconds(w, steps, seeds, device)
  return {"device": device, "torch": torch.__version__,
          "cudnn": torch.backends.cudnn.version() if device == "cuda" else None,
          "seconds_per_seed": float(np.median(per_seed)),
          "seed_steps_per_s": steps / float(np.median(per_seed))}


def figure(rows, torch_row, steps, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  seeds = np.array([r["seeds"] for r in rows])
  fig, ax = plt.subplots(figsize=(5.5, 4))
  ax.loglog(seeds, [r["run_s"] for r in rows], "o-", label="lstm_init, vmapped seeds")
  if torch_row is not None:
    ax.loglog(seeds, seeds * torch_row["seconds_per_seed"], "s--",
              label=f"torch.nn.LSTM loop ({torch_row['device']}), scaled")
  ax.set_xlabel("seeds")
  ax.set_ylabel(f"seconds for {steps} steps")
  ax.set_title(f"{jax.devices()[0].device_kind}: time against seeds")
  ax.legend(fontsize=8)
  fig.savefig(path, dpi=130, bbox_inches="tight")


def main(argv):
  del argv
  name = "smoke" if _SMOKE.value else _WORKLOAD.value
  w = WORKLOADS[name]
  steps = 5 if _SMOKE.value else _STEPS.value
  seeds = [1, 4] if _SMOKE.value else [int(s) for s in _SEEDS.value]
  dev = jax.devices()[0]
  out = {"backend": jax.default_backend(), "device_kind": dev.device_kind,
         "devices": jax.device_count(), "jax": jax.__version__, "workload": dict(w, name=name),
         "steps": steps, "matmul_precision": str(jax.config.jax_default_matmul_precision),
         "rows": []}
  print(f"JAX {jax.__version__} on {out['backend']} ({dev.device_kind} x {out['devices']}); "
        f"{name} workload {w}, {steps} steps", flush=True)
  for s in seeds:
    row = time_seeds(w, steps, s)
    out["rows"].append(row)
    print(f"  {s:>5} seeds: {row['run_s']:8.3f} s ({row['seed_steps_per_s']:10.1f} seed-steps/s, "
          f"{row['gflops']:8.1f} GFLOP/s), compile {row['compile_s']:.1f} s, XLA "
          f"{(row['xla_bytes'] or 0) / 2**20:.0f} MiB, device peak "
          f"{row['device_peak_bytes'] / 2**20:.0f} MiB", flush=True)
  out["torch_loop"] = time_torch(w, steps, 1 if _SMOKE.value else _TORCH_SEEDS.value)
  first, last = out["rows"][0], out["rows"][-1]
  ratios = {f"time_{last['seeds']}_over_time_{first['seeds']}": last["run_s"] / first["run_s"]}
  if out["torch_loop"] is not None:
    t = out["torch_loop"]
    print(f"  torch loop ({t['device']}): {t['seed_steps_per_s']:.1f} seed-steps/s "
          f"({t['seconds_per_seed']:.2f} s per seed)")
    for r in out["rows"]:
      ratios[f"vmap_{r['seeds']}_over_torch_loop"] = r["seed_steps_per_s"] / t["seed_steps_per_s"]
  out["ratios"] = ratios
  for k, v in ratios.items():
    print(f"  {k}: {v:.2f}")
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=2)
  if _FIGURE.value:
    figure(out["rows"], out["torch_loop"], steps, _FIGURE.value)
  print(f"wrote {_OUT.value}" + (f" and {_FIGURE.value}" if _FIGURE.value else ""))


if __name__ == "__main__":
  app.run(main)
