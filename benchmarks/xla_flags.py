"""Which XLA CPU options speed up the LSTM's small matmuls? Each in its own process.

  python -m benchmarks.xla_flags
  python -m benchmarks.xla_flags --workload=small --steps=50

XLA reads its flags when the backend starts, so every candidate runs in a
fresh subprocess (`--child`), on the same workload (`benchmarks.workload`),
the sweep's sharding and seed grouping, timed after compilation; the ratios
are against the run without extra flags in the same invocation. Flags this
jaxlib does not know make the child fail, which is reported, not hidden.
"""

import json
import os
import subprocess
import sys
import time

from absl import app, flags

CANDIDATES = {
    "none": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn_custom_call": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "xnn_graph_greedy": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "xnn_dot": "--xla_cpu_use_xnnpack=true --xla_cpu_experimental_xnn_fusion_type=dot",
    "ynn_dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "ynn_dot_eltwise": "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise",
    "onednn_dot": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "no_fast_min_max": "--xla_cpu_enable_fast_min_max=false",
}

_WORKLOAD = flags.DEFINE_string("workload", "reference", "Workload (benchmarks.workload).")
_STEPS = flags.DEFINE_integer("steps", 40, "Training steps per seed.")
_SEEDS = flags.DEFINE_integer("seeds", 16, "Seeds vmapped.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls (best kept).")
_CHILD = flags.DEFINE_bool("child", False, "Measure in this process and print JSON.")
_OUT = flags.DEFINE_string("out", "benchmarks/xla_flags.json", "JSON output path.")
flags.DEFINE_integer("cpu_devices", None, "Host devices on the CPU (default: one per core).")


def measure() -> dict:
  from lstm_init.engine.runtime import devices
  devices.configure_cpu_devices(sys.argv)
  import jax
  from benchmarks.workload import WORKLOADS, make_train, sweep_program
  from lstm_init.engine.execute import placement, seed_group
  w = WORKLOADS[_WORKLOAD.value]
  mesh = placement.run_mesh(0)
  run, _, compile_s = sweep_program(make_train(w, _STEPS.value), _SEEDS.value, mesh,
                                    seed_group.fixed_size(-1))
  loss = jax.block_until_ready(run())
  best = float("inf")
  for _ in range(_REPEATS.value):
    t = time.perf_counter()
    jax.block_until_ready(run())
    best = min(best, time.perf_counter() - t)
  return {"seed_steps_per_s": _SEEDS.value * _STEPS.value / best, "compile_s": compile_s,
          "loss_mean": float(loss.mean())}


def main(argv):
  if _CHILD.value:
    print(json.dumps(measure()))
    return
  results = {}
  for name, extra in CANDIDATES.items():
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + extra).strip())
    out = subprocess.run([sys.executable, "-m", "benchmarks.xla_flags", "--child",
                          *argv[1:], f"--workload={_WORKLOAD.value}", f"--steps={_STEPS.value}",
                          f"--seeds={_SEEDS.value}", f"--repeats={_REPEATS.value}"],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
      results[name] = {"flags": extra, "error": out.stderr.strip().splitlines()[-1][:300]}
      print(f"{name:<20} failed: {results[name]['error']}", flush=True)
      continue
    res = json.loads(out.stdout.strip().splitlines()[-1])
    results[name] = dict(res, flags=extra)
    base = results["none"]["seed_steps_per_s"]
    print(f"{name:<20} {res['seed_steps_per_s']:8.1f} seed-steps/s ({res['seed_steps_per_s'] / base:.3f}x), "
          f"compile {res['compile_s']:.1f} s, mean final loss {res['loss_mean']:.6f}", flush=True)
  with open(_OUT.value, "w") as f:
    json.dump({"workload": _WORKLOAD.value, "steps": _STEPS.value, "seeds": _SEEDS.value,
               "results": results}, f, indent=2)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
