"""The first check on a new accelerator: equal bits, scaling, torch, A2C, in one table.

  python -m benchmarks.accelerator_check            # one GPU: under 10 minutes
  python -m benchmarks.accelerator_check --smoke    # tiny sizes on the CPU (the test suite)

Rows, on whatever backend JAX starts:

  seed 0 alone vs among N   seed 0 of a 1-seed sweep against seed 0 of an
                            N-seed sweep (N = 1000): every number of its
                            results.csv row and its learning curve, to the bit.
  two cold processes        the same sweep command run twice, each in a fresh
                            process without a compilation cache (so XLA
                            compiles, and on a GPU would autotune, twice):
                            results.csv byte for byte.
  time, n seeds             `lstm_init.sweep` of n = 1, 64, 1024, 4096 seeds:
                            training seconds (environment.json's timings),
                            compile seconds, seed-steps per second.
  torch.nn.LSTM loop        the same sizes trained by torch, one seed after
                            another on the same device (cuDNN on a GPU;
                            `benchmarks.workload.torch_seconds`), against the
                            largest sweep's seed-steps per second.
  A2C steps/s               `lstm_init.make_train` of configs/a2c_cartpole.py,
                            vmapped over seeds: environment steps per second.

The workload is configs/default.py with one preset (adding problem, T=30,
H=32, 400 steps). `--out` writes the rows as JSON. Equal bits are what the
project promises on every backend (a seed's result is a function of the
command and the kind of machine); the times are measurements of this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

import lstm_init
from benchmarks.workload import torch_seconds
from lstm_init import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "configs", "default.py")
A2C = os.path.join(ROOT, "configs", "a2c_cartpole.py")

_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny sizes, for the CPU (seconds; the test suite).")
_OUT = flags.DEFINE_string("out", "", "Also write the rows as JSON here.")
_TIMEOUT = flags.DEFINE_integer("process_timeout", 600, "Seconds a sweep process may take.")

# (sizes of the workload, seed counts, among, torch seeds, A2C seeds and updates)
FULL = {"overrides": {}, "scaling": (1, 64, 1024, 4096), "among": 1000, "cold_seeds": 64,
        "cold_flags": (), "torch_seeds": 3, "a2c": {"seeds": 256, "updates": 100, "overrides": {}}}
# The smoke workload has the sizes of tests/helpers.tiny_config, so its in-process
# sweeps run programs that the test suite compiles once for many tests.
SMOKE = {"overrides": {"train.steps": 20, "task.length": 8, "model.hidden_size": 8,
                       "train.batch_size": 8, "task.eval_size": 64, "train.eval_every": 10,
                       "train.log_every": 10},
         # Three processes on the CPU at once: each cold sweep on one host device.
         "scaling": (1, 8), "among": 8, "cold_seeds": 2, "cold_flags": ("--cpu_devices=1",),
         "torch_seeds": 1,
         "a2c": {"seeds": 2, "updates": 2,
                 "overrides": {"rl.num_envs": 2, "rl.rollout_len": 4, "model.hidden_size": 8,
                               "train.eval_every": 2, "train.log_every": 2}}}
ONE_PRESET = {"model.init.preset": "keras", "report": False}


def workload(sizes: dict, seeds: int):
  """configs/default.py with one preset, the sizes, and `seeds` seeds."""
  return lstm_init.config(DEFAULT, **ONE_PRESET, **sizes, num_seeds=seeds)


def run(sizes: dict, seeds: int, folder: str):
  """`lstm_init.sweep` of the workload (quiet); its `SweepResults`."""
  return lstm_init.sweep(workload(sizes, seeds), workdir=os.path.join(folder, f"seeds{seeds}"),
                         overwrite=True, progress="lines", log=lambda line: None)


def seed_row(result, seed: int) -> tuple[dict[str, str], dict[str, np.ndarray]]:
  """A seed's results.csv row (as written) and learning curves."""
  rows = records.read_csv(os.path.join(result.workdir, "results.csv"))
  row = next(r for r in rows if int(r["seed"]) == seed)
  curves = {k: v[0, seed] for k, v in result.curve_arrays.items() if v.ndim >= 2}
  return row, curves


def same_seed(alone, among) -> dict:
  """Seed 0 of two sweeps, number by number and curve by curve."""
  (row_a, curves_a), (row_b, curves_b) = seed_row(alone, 0), seed_row(among, 0)
  equal = row_a == row_b and all(
      np.array_equal(curves_a[k], curves_b[k], equal_nan=True) for k in curves_a)
  points = sum(v.size for v in curves_a.values())
  return {"equal": bool(equal), "numbers": len(row_a), "curve_points": int(points),
          "final_eval_loss": row_a["final_eval_loss"]}


def cold_processes(sizes: dict, seeds: int, folder: str, together: bool,
                   flags_: tuple[str, ...] = ()):
  """The same sweep command in two fresh processes without a compilation cache.

  Called before this process starts JAX's backend. On an accelerator the two
  run now, one after the other, each with the whole device; with `together`
  (the CPU smoke test) they start now, at once, and run beside this process's
  own checks. `flags_`: more command-line flags of both.

  Returns:
    A function that waits for them and returns their comparison.
  """
  cmds, workdirs = [], []
  for side in ("a", "b"):
    workdirs.append(os.path.join(folder, f"cold_{side}"))
    cmd = [sys.executable, "-m", "experiments.seed_sweep", f"--workdir={workdirs[-1]}",
           "--compilation_cache=off", "--overwrite", f"--config.num_seeds={seeds}", *flags_]
    cmds.append(cmd + [f"--config.{k}={v}" for k, v in {**ONE_PRESET, **sizes}.items()])
  start = time.perf_counter()
  start_one = lambda c: subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
  done = []

  def finish(cmd, proc):
    try:
      _, err = proc.communicate(timeout=_TIMEOUT.value)
    except subprocess.TimeoutExpired:
      proc.kill()
      raise RuntimeError(f"{' '.join(cmd)} ran over {_TIMEOUT.value} s") from None
    if proc.returncode != 0:
      raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    done.append(time.perf_counter() - start)

  procs = [start_one(c) for c in cmds] if together else []
  if not together:
    for cmd in cmds:
      finish(cmd, start_one(cmd))

  def wait() -> dict:
    for cmd, proc in zip(cmds, procs):
      finish(cmd, proc)
    files = []
    for workdir in workdirs:
      with open(os.path.join(workdir, "results.csv"), "rb") as f:
        files.append(f.read())
    return {"equal": files[0] == files[1], "runs": files[0].count(b"\n") - 1,
            "bytes": len(files[0]), "wall_s": done, "together": together}

  return wait


def scaling(result, seeds: int, steps: int) -> dict:
  """A sweep's times from its environment.json."""
  t = result.environment["timings"]
  return {"seeds": seeds, "training_s": t["training_s"], "compile_s": t["compile_s"],
          "seed_steps_per_s": seeds * steps / t["training_s"],
          "seed_group": result.environment.get("seed_groups", [None])[0]}


def torch_loop(config, seeds: int) -> dict | None:
  """The workload's sizes trained by torch.nn.LSTM, one seed after another."""
  try:
    import torch
  except ImportError:
    return None
  device = "cuda" if torch.cuda.is_available() else "cpu"
  task = config.task
  w = {"input": 2, "hidden": int(config.model.hidden_size), "length": int(task.length),
       "batch": int(config.train.batch_size)}
  steps = int(config.train.steps)
  per_seed = torch_seconds(w, steps, seeds, device)
  return {"device": device, "torch": torch.__version__,
          "cudnn": torch.backends.cudnn.version() if device == "cuda" else None,
          "seeds": seeds, "seconds_per_seed": float(np.median(per_seed)),
          "seed_steps_per_s": steps / float(np.median(per_seed))}


def a2c_speed(a2c: dict) -> dict:
  """Environment steps per second of the A2C config's `make_train`, vmapped over seeds."""
  config = lstm_init.config(A2C, **{"model.init.preset": "keras", "report": False,
                                    "train.steps": a2c["updates"], **a2c["overrides"]})
  train = jax.jit(jax.vmap(lstm_init.make_train(config)))
  keys = jax.random.split(jax.random.key(0), a2c["seeds"])
  start = time.perf_counter()
  jax.block_until_ready(train(keys))
  first = time.perf_counter() - start
  start = time.perf_counter()
  out = jax.block_until_ready(train(keys))
  steady = time.perf_counter() - start
  steps = a2c["seeds"] * a2c["updates"] * int(config.rl.num_envs) * int(config.rl.rollout_len)
  return {"seeds": a2c["seeds"], "updates": a2c["updates"], "env_steps": steps,
          "first_call_s": first, "steady_s": steady, "env_steps_per_s": steps / steady,
          "finite": bool(np.isfinite(np.asarray(out["train_loss"])).all())}


def table(res: dict) -> str:
  """The one table the check prints."""
  lines = [f"{'check':<34} {'result':>16}  detail"]
  add = lambda name, value, detail: lines.append(f"{name:<34} {value:>16}  {detail}")
  s = res["same_seed"]
  add(f"seed 0 alone vs among {res['among']}", "equal bits" if s["equal"] else "DIFFER",
      f"{s['numbers']} results.csv numbers, {s['curve_points']} curve values; final eval "
      f"loss {s['final_eval_loss']}")
  c = res["cold"]
  add("two cold processes", "equal bits" if c["equal"] else "DIFFER",
      f"results.csv of {c['runs']} runs ({c['bytes']} bytes), no compilation cache; "
      f"done after {c['wall_s'][0]:.0f} s and {c['wall_s'][1]:.0f} s"
      + (" (run at once)" if c["together"] else ""))
  for r in res["scaling"]:
    add(f"time, {r['seeds']} seeds", f"{r['training_s']:.2f} s",
        f"{r['seed_steps_per_s']:,.0f} seed-steps/s; compile {r['compile_s']:.1f} s; "
        f"seed group {r['seed_group']}")
  t = res["torch"]
  if t is None:
    add("torch.nn.LSTM loop", "n/a", "torch is not installed")
  else:
    last = res["scaling"][-1]
    ratio = last["seed_steps_per_s"] / t["seed_steps_per_s"]
    cudnn = f", cuDNN {t['cudnn']}" if t["cudnn"] else ""
    add(f"torch.nn.LSTM loop ({t['device']})", f"{t['seed_steps_per_s']:,.0f} /s",
        f"seed-steps/s over {t['seeds']} seed(s), torch {t['torch']}{cudnn}; "
        f"{last['seeds']} vmapped seeds: {ratio:,.1f}x")
  a = res["a2c"]
  add("A2C CartPole env steps/s", f"{a['env_steps_per_s']:,.0f}",
      f"{a['seeds']} seeds x {a['updates']} updates vmapped, steady state "
      f"(first call {a['first_call_s']:.1f} s)")
  return "\n".join(lines)


def check(smoke: bool) -> dict:
  """Every row of the table, as a dict (see the module docstring)."""
  p = SMOKE if smoke else FULL
  sizes = p["overrides"]
  res = {"jax": jax.__version__, "smoke": smoke, "among": p["among"]}
  with tempfile.TemporaryDirectory(prefix="accelerator-check-") as folder:
    # First, before this process starts the backend (an accelerator's memory).
    cold = cold_processes(sizes, p["cold_seeds"], folder, together=smoke, flags_=p["cold_flags"])
    runs = {n: run(sizes, n, folder) for n in sorted(set(p["scaling"]) | {p["among"]})}
    res["numerics"] = runs[1].environment.get("numerics")
    res["same_seed"] = same_seed(runs[1], runs[p["among"]])
    steps = int(workload(sizes, 1).train.steps)
    res["scaling"] = [scaling(runs[n], n, steps) for n in p["scaling"]]
    res["torch"] = torch_loop(workload(sizes, 1), p["torch_seeds"])
    res["a2c"] = a2c_speed(p["a2c"])
    # Done already unless they run at once (smoke): then they ran beside every row above.
    res["cold"] = cold()
  dev = jax.devices()[0]
  res.update(backend=jax.default_backend(), device_kind=dev.device_kind,
             devices=jax.device_count())
  return res


def main(argv):
  del argv
  start = time.perf_counter()
  res = check(_SMOKE.value)
  res["wall_s"] = time.perf_counter() - start
  print(f"JAX {res['jax']} on {res['backend']} ({res['device_kind']} x {res['devices']}); "
        f"numerics {json.dumps(res['numerics'])}")
  print(table(res))
  print(f"({res['wall_s']:.0f} s in all)")
  if _OUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, "w") as f:
      json.dump(res, f, indent=2)


if __name__ == "__main__":
  app.run(main)
