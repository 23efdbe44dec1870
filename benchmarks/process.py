"""A command's whole process, timed, and the sweep's own `time:` line, parsed."""

import os
import re
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd: list[str]) -> tuple[float, str]:
  start = time.perf_counter()
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  if out.returncode != 0:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
  return time.perf_counter() - start, out.stdout


def parse_times(stdout: str) -> dict:
  line = next(l for l in stdout.splitlines() if l.startswith("time:"))
  nums = [float(x) for x in re.findall(r"([\d.]+) s", line)]
  keys = ("total_s", "time_to_first_step_s", "startup_s", "plan_s", "compile_s", "training_s",
          "outputs_s")
  return dict(zip(keys, nums))
