"""The custom-experiment example: a user's GRU swept by the engine like the LSTM."""

import csv
import json
import os
import re

import numpy as np
import pytest

from examples import gru_forecast
from lstm_init import ConfigError
from lstm_init.engine import sweep
from lstm_init.engine.spec.plan import plan_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _small(num_seeds):
  cfg = gru_forecast.get_config()
  cfg.num_seeds, cfg.train.steps, cfg.train.log_every = num_seeds, 20, 10
  cfg.gru.hidden_size, cfg.task.eval_rows, cfg.report, cfg.seed_group = 8, 4, False, 1
  return cfg


def test_the_example_sweeps_records_what_ran_and_refuses_what_it_ignores(tmp_path):
  res = sweep.run_sweep(_small(2), str(tmp_path / "run"), log=lambda s: None)
  rows = list(csv.DictReader(open(tmp_path / "run" / "results.csv")))
  assert len(rows) == 4 and {r["condition"] for r in rows} == {
      "learning_rate=0.003", "learning_rate=0.01"}
  assert all(np.isfinite(float(r["final_eval_loss"])) for r in rows)
  record = json.load(open(tmp_path / "run" / "config.json"))
  assert "model" in record["unused"] and record["config"]["experiment"].startswith("examples.")
  assert res.rows[0]["condition"] == "learning_rate=0.003"
  # A field the GRU does not read is refused, not silently ignored.
  cfg = _small(2)
  cfg.model.init.preset = "pytorch"
  with pytest.raises(ConfigError, match=r"--config.model.init.preset=pytorch would have no "
                                        r"effect: this experiment does not read it"):
    plan_sweep(cfg, None, {"model.init.preset": "pytorch"})


def test_a_seed_of_the_example_is_the_same_alone_and_among_others(tmp_path):
  alone = sweep.run_sweep(_small(1), str(tmp_path / "a"), log=lambda s: None)
  among = sweep.run_sweep(_small(3), str(tmp_path / "b"), log=lambda s: None)
  for cond in ("learning_rate=0.003", "learning_rate=0.01"):
    a = [r["final_eval_loss"] for r in alone.rows if r["condition"] == cond]
    b = [r["final_eval_loss"] for r in among.rows if r["condition"] == cond]
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
    assert len(set(np.round(b, 7))) == 3


@pytest.mark.parametrize("value, message", [
    ("nope", "unknown experiment 'nope'; valid choices: supervised, a2c, or 'module:factory'"),
    ("builtins:str", "experiment 'builtins:str' returned str, not an "
                     "lstm_init.training.experiment.Experiment"),
    ("no_such_module:f", "cannot load experiment 'no_such_module:f'"),
])
def test_an_unknown_experiment_is_one_line(value, message):
  cfg = _small(1)
  cfg.experiment = value
  with pytest.raises(ConfigError) as e:
    plan_sweep(cfg, [])
  assert str(e.value).startswith(message) and "\n" not in str(e.value)


NOTEBOOK = os.path.join(ROOT, "examples", "notebook_sweep.py")


def _check_notebook_outputs(workdir, runs):
  import lstm_init
  res = lstm_init.load_results(str(workdir))
  assert len(res.runs) == runs and set(res.summary["condition"]) == {"preset=keras",
                                                                     "preset=pytorch"}
  assert os.path.getsize(os.path.join(workdir, "notebook_curves.png")) > 5000


def test_the_notebook_example_runs_in_a_jupyter_kernel(tmp_path):
  """The same cells executed by Jupyter's own machinery (nbclient, an ipykernel),
  with 3 seeds of 100 steps (one progress update) for the example's 8 of 200."""
  import nbclient
  import nbformat
  sizes = '"num_seeds": 8, "train.steps": 200'
  text = open(NOTEBOOK).read()
  assert sizes in text
  text = text.replace(sizes, '"num_seeds": 3, "train.steps": 100')
  cells = [c.strip() for c in re.split(r"^# %%$", text, flags=re.M)[1:]]
  nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
  nb.cells.insert(0, nbformat.v4.new_code_cell(
      f"import os; os.environ['LSTM_INIT_WORKDIR'] = {str(tmp_path / 'w')!r}"))
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
  assert "iqm_ci95_low" in text
  assert "seed-steps/s" not in text  # the bar (tqdm.auto) replaced the lines
  _check_notebook_outputs(tmp_path / "w", runs=6)
