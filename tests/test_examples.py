"""The custom-experiment example: a user's GRU swept by the engine like the LSTM."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np

from examples import gru_forecast
from lstm_init.engine import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _small(num_seeds):
  cfg = gru_forecast.get_config()
  cfg.num_seeds, cfg.train.steps, cfg.train.log_every = num_seeds, 20, 10
  cfg.gru.hidden_size, cfg.task.eval_rows, cfg.report, cfg.seed_group = 8, 4, False, 1
  return cfg


def test_the_example_runs_from_the_command_line_and_refuses_what_it_ignores(tmp_path):
  base = [sys.executable, "-m", "experiments.seed_sweep", "--config=examples/gru_forecast.py",
          "--config.num_seeds=2", "--config.train.steps=20", "--config.train.log_every=10",
          "--config.gru.hidden_size=8", "--config.task.eval_rows=4", "--config.seed_group=1"]
  out = subprocess.run(base + [f"--workdir={tmp_path / 'run'}"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  rows = list(csv.DictReader(open(tmp_path / "run" / "results.csv")))
  assert len(rows) == 4 and {r["condition"] for r in rows} == {
      "learning_rate=0.003", "learning_rate=0.01"}
  assert all(np.isfinite(float(r["final_eval_loss"])) for r in rows)
  record = json.load(open(tmp_path / "run" / "config.json"))
  assert "model" in record["unused"] and record["config"]["experiment"].startswith("examples.")
  assert os.path.exists(tmp_path / "run" / "report.md")
  # A field the GRU does not read is refused, not silently ignored.
  bad = subprocess.run(base + ["--config.model.init.preset=pytorch",
                               f"--workdir={tmp_path / 'bad'}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert bad.returncode == 2 and "Traceback" not in bad.stderr
  assert "model.init.preset=pytorch would have no effect: this experiment does not read it" \
      in bad.stderr


def test_a_seed_of_the_example_is_the_same_alone_and_among_others(tmp_path):
  alone = sweep.run_sweep(_small(1), str(tmp_path / "a"), log=lambda s: None)
  among = sweep.run_sweep(_small(3), str(tmp_path / "b"), log=lambda s: None)
  for cond in ("learning_rate=0.003", "learning_rate=0.01"):
    a = [r["final_eval_loss"] for r in alone.rows if r["condition"] == cond]
    b = [r["final_eval_loss"] for r in among.rows if r["condition"] == cond]
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
    assert len(set(np.round(b, 7))) == 3


def test_an_unknown_experiment_is_one_line_and_exit_2(tmp_path):
  for value, message in (("nope", "error: unknown experiment 'nope'; valid choices: supervised, a2c, "
                                  "or 'module:factory'"),
                         ("builtins:str", "error: experiment 'builtins:str' returned str, not an "
                                       "lstm_init.training.experiment.Experiment"),
                         ("no_such_module:f", "error: cannot load experiment "
                                              "'no_such_module:f'")):
    out = subprocess.run([sys.executable, "-m", "experiments.seed_sweep",
                          f"--config.experiment={value}", f"--workdir={tmp_path}"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-1500:]
    assert out.stderr.strip().startswith(message), out.stderr


NOTEBOOK = os.path.join(ROOT, "examples", "notebook_sweep.py")


def _check_notebook_outputs(workdir):
  import lstm_init
  res = lstm_init.load_results(str(workdir))
  assert len(res.runs) == 16 and set(res.summary["condition"]) == {"preset=keras",
                                                                   "preset=pytorch"}
  assert os.path.getsize(os.path.join(workdir, "notebook_curves.png")) > 5000


def test_the_notebook_example_runs_as_a_plain_script(tmp_path):
  env = {**os.environ, "LSTM_INIT_WORKDIR": str(tmp_path / "w")}
  out = subprocess.run([sys.executable, NOTEBOOK], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "iqm_ci95_low" in out.stdout and "seed-steps/s" in out.stdout  # lines, not a bar
  _check_notebook_outputs(tmp_path / "w")


def test_the_notebook_example_runs_in_a_jupyter_kernel(tmp_path):
  """The same cells executed by Jupyter's own machinery (nbclient, an ipykernel)."""
  import nbclient
  import nbformat
  cells = [c.strip() for c in re.split(r"^# %%$", open(NOTEBOOK).read(), flags=re.M)[1:]]
  nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
  nb.cells.insert(0, nbformat.v4.new_code_cell(
      f"import os; os.environ['LSTM_INIT_WORKDIR'] = {str(tmp_path / 'w')!r}"))
  client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
  assert "iqm_ci95_low" in text
  assert "seed-steps/s" not in text  # the bar (tqdm.auto) replaced the lines
  _check_notebook_outputs(tmp_path / "w")
