"""The whole process as a user meets it: lstm_init's sweep against a PyTorch loop.

  python -m benchmarks.end_to_end                       # both workloads
  python -m benchmarks.end_to_end --workloads=small --repeats=1

For each workload, in one script: the PyTorch loop (`benchmarks/torch_sweep.py`,
one seed after another) and `python -m experiments.seed_sweep` with the same
task, sizes, seeds and steps, first with an empty compilation cache (cold:
every program compiles, `seed_group` is measured) and then again (warm: the
cache serves). Each is a fresh process timed from start to exit; the sweep's
own `time:` line splits its time into start-up, compilation and training.
Ratios are torch's time over ours (> 1: lstm_init faster). JSON to --out.

Workloads (the adding problem at length 100, 64 seeds, 200 steps):
  small      hidden 32, batch 16
  reference  hidden 128, batch 32
"""

import json
import os
import sys
import tempfile

from absl import app, flags

from benchmarks.process import parse_times, timed

WORKLOADS = {"small": dict(hidden=32, batch=16), "reference": dict(hidden=128, batch=32)}
LENGTH, SEEDS, STEPS = 100, 64, 200

_WORKLOADS = flags.DEFINE_list("workloads", list(WORKLOADS), "Workloads to run.")
_REPEATS = flags.DEFINE_integer("repeats", 1, "Runs of each (the best is kept).")
_OUT = flags.DEFINE_string("out", "benchmarks/end_to_end.json", "JSON output path.")


def sweep_cmd(w, workdir, cache):
  return [sys.executable, "-m", "experiments.seed_sweep", f"--workdir={workdir}", "--overwrite",
          f"--compilation_cache={cache}", f"--config.task.length={LENGTH}",
          f"--config.model.hidden_size={w['hidden']}", f"--config.train.batch_size={w['batch']}",
          f"--config.num_seeds={SEEDS}", f"--config.train.steps={STEPS}",
          "--config.model.init.preset=pytorch", "--config.report=False"]


def main(argv):
  del argv
  results = {}
  for name in _WORKLOADS.value:
    w = WORKLOADS[name]
    best: dict = {}
    for _ in range(_REPEATS.value):
      with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        runs["torch"] = timed([sys.executable, "-m", "benchmarks.torch_sweep",
                               f"--hidden={w['hidden']}", f"--batch={w['batch']}",
                               f"--length={LENGTH}", f"--seeds={SEEDS}", f"--steps={STEPS}"])
        cache = os.path.join(tmp, "cache")
        for side in ("cold", "warm"):
          runs[side] = timed(sweep_cmd(w, os.path.join(tmp, side), cache))
      for side, (wall, stdout) in runs.items():
        row = {"wall_s": wall}
        if side != "torch":
          row.update(parse_times(stdout))
          row["outside_training"] = 1 - row["training_s"] / wall
        else:
          row["line"] = stdout.strip().splitlines()[-1]
        if side not in best or wall < best[side]["wall_s"]:
          best[side] = row
        print(f"{name} {side}: {wall:.1f} s" + (
            f" (first step at {row['time_to_first_step_s']:.1f} s, compile "
            f"{row['compile_s']:.1f} s, training {row['training_s']:.1f} s, outside training "
            f"{100 * row['outside_training']:.0f}%)" if side != "torch" else
            f" ({row['line']})"), flush=True)
    ratios = {f"torch_over_{side}": best["torch"]["wall_s"] / best[side]["wall_s"]
              for side in ("cold", "warm")}
    results[name] = dict(best, workload=dict(w, length=LENGTH, seeds=SEEDS, steps=STEPS),
                         ratios=ratios)
    print(f"{name}: whole process, torch / lstm_init: cold {ratios['torch_over_cold']:.2f}x, "
          f"warm {ratios['torch_over_warm']:.2f}x", flush=True)
  with open(_OUT.value, "w") as f:
    json.dump(results, f, indent=2)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
