"""Throughput of seed sweeps: lstm_init vmapped and looped against a torch loop.

  python -m benchmarks.throughput                       # both workloads, ~5 minutes on 2 cores
  python -m benchmarks.throughput --workloads=small --steps=100 --out=bench.json

For each workload it prints seed-steps per second, achieved GFLOP/s (forward
and backward matmul FLOPs) and XLA's peak memory per seed for:
  - lstm_init, whole run jitted and vmapped over 1, 8 and 64 seeds, sharded
    over one host device per core on the CPU, each device looping over its
    seeds one at a time (the sweep's default there, `seed_group`), and the
    same with all of a device's seeds vmapped at once;
  - the same with the plain `lax.scan` layer on one device (the baseline);
  - lstm_init's trainer jitted once and looped over seeds in Python;
  - torch.nn.LSTM looped over seeds, when torch is installed (the `bench`
    extra), with its best CPU settings (threads = cores, flush denormals);
  - the machine's matmul rate at the step's shapes and at 2048^3;
then the ratios, all measured in this one process. Figures go to a JSON file.

Workloads (float32, one layer plus a linear readout on the last step, MSE,
Adam, the same fixed batch every step):
  reference  input 8, hidden 128, length 100, batch 32, 200 steps
  small      input 2, hidden 32, length 100, batch 16, 200 steps
"""

import os
import sys

# One host device per core before JAX starts (see lstm_init.engine.runtime.devices).
from lstm_init.engine.runtime import devices as _devices

_devices.configure_cpu_devices(sys.argv)

import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.workload import (WORKLOADS, flops_per_seed_step, make_train,  # noqa: E402
                                 sweep_program, torch_seconds)
from lstm_init.engine.execute import placement, seed_group  # noqa: E402

_WORKLOADS = flags.DEFINE_list("workloads", ["reference", "small"], "Workloads to run.")
_STEPS = flags.DEFINE_integer("steps", 200, "Training steps per seed.")
_LOOP_SEEDS = flags.DEFINE_integer("loop_seeds", 8,
                                   "Seeds timed in the per-seed loops (their rate does not "
                                   "depend on how many).")
_OUT = flags.DEFINE_string("out", "benchmarks/throughput.json", "JSON output path.")
_TORCH = flags.DEFINE_bool("torch", True, "Include torch.nn.LSTM when installed.")
_BASELINE_STEPS = flags.DEFINE_integer(
    "baseline_steps", 50, "Steps of the plain-scan baseline (its rate is per step; fewer "
    "steps keep the benchmark short).")
flags.DEFINE_integer("cpu_devices", None, "Host devices on the CPU (default: one per core).")
_VMAP_SEEDS = flags.DEFINE_list("vmap_seeds", ["1", "8", "64"], "Seed counts vmapped.")


def time_compiled(fn, *args, repeats=1):
  compiled = jax.jit(fn).lower(*args).compile()
  jax.block_until_ready(compiled(*args))  # first call allocates
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    best = min(best, time.perf_counter() - t)
  mem = compiled.memory_analysis()
  peak = (mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
          if mem is not None else float("nan"))
  return best, peak


def bench_vmapped(w, steps, seeds, impl, sharded, group=0):
  """Seeds trained as the sweep trains them (groups of `group`; 0: each device's
  whole shard at once), on every device or on one."""
  train = make_train(w, steps, impl)
  mesh = placement.run_mesh(0 if sharded and seeds % len(jax.devices()) == 0 else 1)
  run, compiled, _ = sweep_program(train, seeds, mesh, group)
  jax.block_until_ready(run())  # first call allocates
  t = time.perf_counter()
  jax.block_until_ready(run())
  seconds = time.perf_counter() - t
  mem = compiled.memory_analysis()  # one group's program
  size = group or -(-seeds // mesh.size)
  peak = (mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
          if mem is not None else float("nan"))
  return {"seed_steps_per_s": seeds * steps / seconds, "seconds": seconds,
          "peak_bytes_per_seed": peak / size, "devices": mesh.size}


def bench_loop(w, steps, seeds, impl):
  train = jax.jit(make_train(w, steps, impl), device=None)
  keys = jax.random.split(jax.random.key(0), seeds)
  jax.block_until_ready(train(keys[0]))  # compile
  t = time.perf_counter()
  for k in keys:
    jax.block_until_ready(train(k))
  seconds = time.perf_counter() - t
  return {"seed_steps_per_s": seeds * steps / seconds, "seconds": seconds}


def bench_torch(w, steps, seeds):
  try:
    import torch
  except ImportError:
    return None
  torch.set_num_threads(os.cpu_count() or 1)
  torch.set_flush_denormal(True)
  per_seed = torch_seconds(w, steps, seeds)
  return {"seed_steps_per_s": steps / float(np.median(per_seed)),
          "seed_steps_per_s_mean": steps * seeds / float(per_seed.sum()),
          "slowest_seed_s": float(per_seed.max()), "torch": torch.__version__,
          "threads": torch.get_num_threads()}


def bench_gemm(w):
  """GFLOP/s of one step's recurrent matmul (repeated in a scan) and of 2048^3."""
  b, h = w["batch"], w["hidden"]
  x = jnp.ones((b, h), jnp.float32) * 0.01
  wt = jnp.ones((h, 4 * h), jnp.float32) * 0.01
  reps = 2000

  def many(x, wt):
    def body(c, _):
      return jnp.tanh(c @ wt)[:, :h], None
    return jax.lax.scan(body, x, None, length=reps)[0]

  sec, _ = time_compiled(many, x, wt, repeats=3)
  step_rate = reps * 2 * b * h * 4 * h / sec / 1e9
  n = 2048
  a = jnp.ones((n, n), jnp.float32)
  sec, _ = time_compiled(lambda a: a @ a, a, repeats=3)
  return {"step_matmul_gflops": step_rate, "gemm_2048_gflops": 2 * n ** 3 / sec / 1e9}


def run_workload(name, steps, loop_seeds, with_torch, vmap_seeds):
  w = WORKLOADS[name]
  flops = flops_per_seed_step(w)
  res = {"workload": dict(w, steps=steps), "gflop_per_seed_step": flops / 1e9}
  group = seed_group.fixed_size(-1)  # the sweep's default: 1 at a time per device on the CPU
  for s in vmap_seeds:
    res[f"lstm_init_vmap_{s}"] = bench_vmapped(w, steps, s, "fused", sharded=True, group=group)
    print(f"  {name}: vmapped {s} seeds: "
          f"{res[f'lstm_init_vmap_{s}']['seed_steps_per_s']:.1f} seed-steps/s", flush=True)
  res[f"lstm_init_vmap_{max(vmap_seeds)}_all_at_once"] = bench_vmapped(
      w, _BASELINE_STEPS.value, max(vmap_seeds), "fused", sharded=True, group=0)
  res["plain_scan_vmap_64_one_device"] = bench_vmapped(w, _BASELINE_STEPS.value,
                                                       max(vmap_seeds), "scan", sharded=False)
  res["lstm_init_loop"] = bench_loop(w, steps, loop_seeds, "fused")
  if with_torch:
    t = bench_torch(w, steps, loop_seeds)
    if t is not None:
      res["torch_loop"] = t
  res["gemm"] = bench_gemm(w)
  for k, v in res.items():
    if isinstance(v, dict) and "seed_steps_per_s" in v:
      v["gflops"] = v["seed_steps_per_s"] * flops / 1e9
  top = res[f"lstm_init_vmap_{max(vmap_seeds)}"]["seed_steps_per_s"]
  ratios = {f"vmap_{max(vmap_seeds)}_over_own_loop": top / res["lstm_init_loop"]["seed_steps_per_s"],
            f"vmap_{max(vmap_seeds)}_over_plain_scan_vmap":
                top / res["plain_scan_vmap_64_one_device"]["seed_steps_per_s"],
            f"vmap_{max(vmap_seeds)}_over_vmap_1":
                top / res[f"lstm_init_vmap_{min(vmap_seeds)}"]["seed_steps_per_s"],
            "fraction_of_gemm_2048": top * flops / 1e9 / res["gemm"]["gemm_2048_gflops"]}
  if "torch_loop" in res:
    ratios[f"vmap_{max(vmap_seeds)}_over_torch_loop"] = top / res["torch_loop"]["seed_steps_per_s"]
  res["ratios"] = ratios
  return res


def print_table(name, res):
  print(f"\n{name}: {res['workload']} ({res['gflop_per_seed_step']:.3f} GFLOP per seed-step)")
  print(f"  {'variant':<34} {'seed-steps/s':>13} {'GFLOP/s':>9} {'peak MiB/seed':>14}")
  for k, v in res.items():
    if isinstance(v, dict) and "seed_steps_per_s" in v:
      peak = v.get("peak_bytes_per_seed")
      print(f"  {k:<34} {v['seed_steps_per_s']:>13.1f} {v['gflops']:>9.1f} "
            f"{(peak / 2**20 if peak else float('nan')):>14.2f}")
  g = res["gemm"]
  print(f"  matmul at the step's shapes: {g['step_matmul_gflops']:.1f} GFLOP/s; "
        f"2048^3: {g['gemm_2048_gflops']:.1f} GFLOP/s")
  for k, v in res["ratios"].items():
    print(f"  ratio {k}: {v:.2f}")


def main(argv):
  del argv
  out = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
         "xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_count": os.cpu_count()}
  vmap_seeds = [int(s) for s in _VMAP_SEEDS.value]
  print(f"JAX {jax.__version__}, {len(jax.devices())} device(s): {jax.devices()[0].device_kind}")
  for name in _WORKLOADS.value:
    res = run_workload(name, _STEPS.value, _LOOP_SEEDS.value, _TORCH.value, vmap_seeds)
    out[name] = res
    print_table(name, res)
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=2)
  print(f"\nwrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
