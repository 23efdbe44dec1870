"""The scaling benchmark's smoke mode: it runs, times every seed count and writes its files."""

import json
import os

import numpy as np

from tests import forked


def test_scaling_smoke_writes_json_and_figure(tmp_path):
  out = forked.run(["-m", "benchmarks.scaling", "--smoke", f"--out={tmp_path / 'scaling.json'}",
                    f"--figure={tmp_path / 'scaling.png'}"], timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  res = json.load(open(tmp_path / "scaling.json"))
  assert [r["seeds"] for r in res["rows"]] == [1, 4]
  for r in res["rows"]:
    assert r["finite"] and r["run_s"] > 0 and r["compile_s"] > 0
    np.testing.assert_allclose(r["seed_steps_per_s"], r["seeds"] * res["steps"] / r["run_s"])
  assert res["torch_loop"]["seed_steps_per_s"] > 0  # torch is in the test extra
  assert res["ratios"]["time_4_over_time_1"] > 0
  assert os.path.getsize(tmp_path / "scaling.png") > 1000
