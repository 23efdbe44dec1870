"""The accelerator check's smoke mode on the CPU: every row of its table, with values."""

import json
import re

import numpy as np

from tests import forked


def test_accelerator_check_smoke_prints_the_table(tmp_path):
  out_path = tmp_path / "check.json"
  # A process of its own, forked from a server that has imported JAX (tests/forked.py);
  # its two cold sweeps are fresh interpreters (sys.executable) as on an accelerator.
  out = forked.run(["-m", "benchmarks.accelerator_check", "--smoke", f"--out={out_path}"],
                   timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  res = json.load(open(out_path))
  assert res["backend"] == "cpu" and res["smoke"]
  # The equal-bits rows compare something, and say equal.
  same = res["same_seed"]
  assert same["equal"] and same["numbers"] >= 10 and same["curve_points"] > 0
  assert res["cold"]["equal"] and res["cold"]["runs"] == 2 and res["cold"]["bytes"] > 100
  # The scaling rows: every seed count, positive times, seed-steps/s from them.
  assert [r["seeds"] for r in res["scaling"]] == [1, 8]
  for r in res["scaling"]:
    assert r["training_s"] > 0 and r["compile_s"] >= 0 and r["seed_group"] == 1
    np.testing.assert_allclose(r["seed_steps_per_s"], r["seeds"] * 20 / r["training_s"])
  t = res["torch"]  # torch is in the test extra
  assert t["device"] == "cpu" and t["seconds_per_seed"] > 0
  a = res["a2c"]
  assert a["finite"] and a["steady_s"] > 0 and a["env_steps"] == 2 * 2 * 2 * 4
  np.testing.assert_allclose(a["env_steps_per_s"], a["env_steps"] / a["steady_s"])
  # One table, one row per check, as printed.
  text = out.stdout
  assert re.search(r"^seed 0 alone vs among 8 +equal bits ", text, re.M)
  assert re.search(r"^two cold processes +equal bits ", text, re.M)
  for n in (1, 8):
    assert re.search(rf"^time, {n} seeds +[\d.]+ s ", text, re.M)
  assert re.search(r"^torch\.nn\.LSTM loop \(cpu\) ", text, re.M)
  assert re.search(r"^A2C CartPole env steps/s +[\d,]+ ", text, re.M)
