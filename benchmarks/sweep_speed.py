"""Sweep speed of this checkout against another commit, side by side.

  python -m benchmarks.sweep_speed --baseline=HEAD~1
  python -m benchmarks.sweep_speed --baseline=9174162 --workloads=small --repeats=3

Runs `python -m experiments.seed_sweep` on the same workloads from this
checkout and from a `git worktree` of the baseline commit, alternating
(baseline, current, baseline, current, ...) so that both meet the same machine
state, and reports for each:
  steady   seed-steps/s between the first and the last progress line (the
           compiled pieces, no compilation);
  whole    the whole process as a user meets it: start-up, planning,
           compilation, training and the printed summary (no report);
and the ratios current / baseline (best of the repeats). JSON to --out.

Workloads (the adding task at length 100, one layer, the pytorch preset):
  reference  hidden 128, batch 32, 32 seeds, 100 steps
  small      hidden 32, batch 16, 64 seeds, 200 steps
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

WORKLOADS = {
    "reference": ["--config.model.hidden_size=128", "--config.train.batch_size=32",
                  "--config.num_seeds=32", "--config.train.steps=100",
                  "--config.train.log_every=20"],
    "small": ["--config.model.hidden_size=32", "--config.train.batch_size=16",
              "--config.num_seeds=64", "--config.train.steps=200",
              "--config.train.log_every=40"],
}
COMMON = ["--config.task.length=100", "--config.model.init.preset=pytorch",
          "--config.report=False", "--config.checkpoint_every_s=1e9"]

_BASELINE = flags.DEFINE_string("baseline", "HEAD~1", "Commit to compare against.")
_WORKLOADS = flags.DEFINE_list("workloads", list(WORKLOADS), "Workloads to run.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Runs of each side per workload.")
_OUT = flags.DEFINE_string("out", "benchmarks/sweep_speed.json", "JSON output path.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(checkout: str, workload: str, workdir: str) -> dict:
  """One sweep; the steady rate from the times its progress lines arrive."""
  cmd = [sys.executable, "-u", "-m", "experiments.seed_sweep", f"--workdir={workdir}",
         "--overwrite", *COMMON, *WORKLOADS[workload]]
  start = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=dict(os.environ, PYTHONPATH=checkout))
  marks = []  # (time, step) of each progress line
  for line in proc.stdout:
    if "seed-steps/s" in line and " step " in line:
      step = int(line.split(" step ")[1].split("/")[0])
      marks.append((time.perf_counter(), step))
  if proc.wait() != 0:
    raise RuntimeError(f"sweep failed in {checkout}")
  whole = time.perf_counter() - start
  seeds = int(next(a for a in WORKLOADS[workload] if "num_seeds" in a).split("=")[1])
  (t0, s0), (t1, s1) = marks[0], marks[-1]
  return {"steady_seed_steps_per_s": seeds * (s1 - s0) / (t1 - t0),
          "whole_s": whole}


def main(argv):
  del argv
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    base = os.path.join(tmp, "baseline")
    subprocess.run(["git", "worktree", "add", "--detach", base, _BASELINE.value], cwd=ROOT,
                   check=True, capture_output=True)
    try:
      for w in _WORKLOADS.value:
        runs = {"baseline": [], "current": []}
        for r in range(_REPEATS.value):
          for side, checkout in (("baseline", base), ("current", ROOT)):
            out = run_once(checkout, w, os.path.join(tmp, f"{w}-{side}-{r}"))
            runs[side].append(out)
            print(f"{w} {side} #{r}: steady {out['steady_seed_steps_per_s']:.1f} seed-steps/s, "
                  f"whole {out['whole_s']:.1f} s", flush=True)
        best = {side: {"steady_seed_steps_per_s": max(o["steady_seed_steps_per_s"] for o in v),
                       "whole_s": min(o["whole_s"] for o in v)} for side, v in runs.items()}
        ratio = {"steady": best["current"]["steady_seed_steps_per_s"]
                 / best["baseline"]["steady_seed_steps_per_s"],
                 "whole": best["baseline"]["whole_s"] / best["current"]["whole_s"]}
        results[w] = {"runs": runs, "best": best, "current_over_baseline": ratio}
        print(f"{w}: current / baseline: steady {ratio['steady']:.3f}, whole process "
              f"{ratio['whole']:.3f} (> 1: current faster)", flush=True)
    finally:
      subprocess.run(["git", "worktree", "remove", "--force", base], cwd=ROOT,
                     capture_output=True)
  results["baseline_commit"] = _BASELINE.value
  with open(_OUT.value, "w") as f:
    json.dump(results, f, indent=2)
  print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
