"""End to end: a tiny sweep writes every file with its schema; bad input exits cleanly."""

import csv
import json
import os
import stat
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import ConfigError, api
from lstm_init.engine.runtime import cache as cache_lib
from lstm_init.report import document as report
from lstm_init.engine import sweep
from lstm_init.report import results
from lstm_init.report.merged import merge
from lstm_init.engine.spec import axes as axes_lib
from lstm_init.engine.spec import plan as plan_lib
from lstm_init.engine.execute import programs as programs_lib
from tests.helpers import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_sweep_writes_every_file(tmp_path):
  cfg = tiny_config()
  cfg.report = True
  wd = str(tmp_path / "run")
  sweep.run_sweep(cfg, wd, sweep=["model.init.preset=keras,pytorch"], log=lambda s: None)
  report.write_report([wd])
  for name in ("config.json", "environment.json", "results.csv", "curves.npz", "summary.json",
               "metrics.jsonl", "report.md", "report.html", "table.tex",
               "figures/distribution.png", "figures/curves.png", "figures/ecdf.pdf"):
    assert os.path.exists(os.path.join(wd, name)), name
  rows = list(csv.DictReader(open(os.path.join(wd, "results.csv"))))
  assert len(rows) == 8
  for col in ("condition", "seed", "final_train_loss", "final_eval_loss", "final_eval_metric",
              "diverged", "model.init.preset"):
    assert col in rows[0]
  assert {r["condition"] for r in rows} == {"preset=keras", "preset=pytorch"}
  summary = json.load(open(os.path.join(wd, "summary.json")))
  s = summary["conditions"]["preset=keras"]
  for k in ("n", "mean", "std", "median", "iqm", "min", "max", "ci95_low", "ci95_high",
            "n_diverged"):
    assert k in s
  losses = [float(r["final_eval_loss"]) for r in rows if r["condition"] == "preset=keras"]
  assert abs(s["mean"] - np.mean(losses)) < 1e-6 and s["ci95_low"] <= s["mean"] <= s["ci95_high"]
  z = np.load(os.path.join(wd, "curves.npz"))
  assert z["eval_loss"].shape == (2, 4, 3)  # steps 0, 10, 20
  assert z["train_loss"].shape == (2, 4, 3) and z["steps"][0].tolist() == [0, 10, 20]
  assert z["per_timestep_loss"].shape == (2, 4, 8)
  np.testing.assert_allclose(z["eval_loss"][0, :, -1], losses, rtol=1e-6)
  env = json.load(open(os.path.join(wd, "environment.json")))
  for k in ("versions", "backend", "device_kinds", "device_count", "x64",
            "default_matmul_precision", "xla_flags", "command", "git_commit", "cpu_model",
            "prng_impl", "seed_groups", "seed_group_rule"):
    assert k in env
  for name in ("jax", "jaxlib", "flax", "optax"):
    assert env["versions"][name] == __import__(name).__version__
  lines = open(os.path.join(wd, "metrics.jsonl")).read().splitlines()
  assert len(lines) == 2 and json.loads(lines[0])["step"] == 10
  md = open(os.path.join(wd, "report.md")).read()
  assert "preset=keras" in md and "figures/distribution.png" in md


def _sweep(*args, workdir):
  """What `python -m experiments.seed_sweep <args>` runs, in process: a config file,
  `--config.<path>=<text>` values and `--sweep` axes, then `run_sweep`."""
  files = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
  config = api.load_config_file(os.path.join(ROOT, files[0]) if files else api.DEFAULT)
  small = ["--config.num_seeds=2", "--config.train.steps=2", "--config.train.eval_every=1",
           "--config.report=False", "--config.seed_group=1"]
  given, axes = {}, []
  for arg in [*small, *(a for a in args if not a.startswith("--config="))]:
    flag, _, text = arg.partition("=")
    if flag == "--sweep":
      axes.append(text)
    else:
      path = flag[len("--config."):]
      value = axes_lib.set_from_text(config, path, text)
      if arg not in small:
        given[path] = value
  lines = []
  result = sweep.run_sweep(config, str(workdir), axes or None, given=given, log=lines.append)
  return result, "\n".join(lines)


def test_the_compilation_cache_is_switched_off_or_refused_in_one_line(tmp_path):
  """Used and timed through the command line: tests/test_cli.py."""
  import jax
  before = jax.config.jax_compilation_cache_dir
  try:
    assert cache_lib.enable("off") is None and jax.config.jax_compilation_cache_dir is None
    from lstm_init import records
    assert records.environment()["compilation_cache"] is None
    folder = cache_lib.enable(str(tmp_path / "cache"))
    assert folder == str(tmp_path / "cache") and os.path.isdir(folder)
    assert records.environment()["compilation_cache"] == folder
  finally:
    cache_lib.enable(before or "off")
  (tmp_path / "file").write_text("x")
  with pytest.raises(ConfigError, match=r"cannot be created .*'off'"):
    cache_lib.enable(str(tmp_path / "file" / "x"))  # a folder inside a file


BAD = [
    (["--config.task.name=addition"], "unknown task 'addition'; valid choices: adding"),
    (["--config.model.init.preset=kerass", "--sweep=train.learning_rate=0.1"],
     "unknown preset 'kerass'; valid choices: chrono"),
    (["--config.train.optimizer=adamm"], "unknown optimizer 'adamm'; valid choices: adam"),
    (["--config.model.initial_state.strategy=learnt"],
     "unknown initial-state strategy 'learnt'; valid choices: carried"),
    (["--config.num_seeds=0"], "bad value 0 for num_seeds; valid: >= 1"),
    (["--config.train.learning_rate=nan"], "bad value nan for train.learning_rate; valid: > 0"),
    (["--config.train.learning_rate=inf"], "bad value inf for train.learning_rate; valid: > 0"),
    (["--config.train.learning_rate=-0.01"],
     "bad value -0.01 for train.learning_rate; valid: > 0"),
    (["--sweep=train.learning_rate=0.1,nan"], "bad value nan for train.learning_rate"),
    (["--config.train.momentum=1.5", "--config.train.optimizer=sgd"],
     "bad value 1.5 for train.momentum; valid: in [0, 1)"),
    (["--config.model.init.preset=tf1", "--sweep=model.init.preset=keras,tf1"],
     "model.init.preset is given twice, as --config.model.init.preset=tf1 and as "
     "--sweep=model.init.preset=keras,tf1"),
    (["--config.train.momentum=0.5"],
     "--config.train.momentum=0.5 would have no effect: it is used only with"),
    (["--sweep=model.init.preset"], "malformed --sweep 'model.init.preset'"),
    (["--sweep=model.init.presett=keras"], "unknown config field 'model.init.presett'"),
    (["--config.model.hidden_size=0"], "model.hidden_size must be >= 1, got 0"),
    (["--config.task.name=digits", "--config.train.batch_size=5000"],
     "batch_size 5000 is larger than the"),
    (["--config.fixed_streams=dta"], "unknown stream 'dta'; valid choices: data"),
    (["--config.train.stateful=True"], "stateful training needs a task"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_one_line_nothing_lost(tmp_path, args, message):
  wd = tmp_path / "kept"
  wd.mkdir()
  (wd / "results.csv").write_text("precious\n")
  with pytest.raises(ConfigError) as e:
    _sweep(*args, workdir=wd)
  assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
  assert (wd / "results.csv").read_text() == "precious\n"


@pytest.mark.parametrize("config, field, values", [
    ("configs/default.py", "model.init.preset", ["tf1"]),
    ("configs/stateful.py", "model.initial_state.strategy", ["carried"])])
def test_an_explicit_value_replaces_the_default_sweep_axis(tmp_path, config, field, values):
  wd = tmp_path / "run"
  extra = ["--config.task.windows_per_sequence=4"] if "stateful" in config else []
  _, log = _sweep(f"--config={config}", f"--config.{field}={values[0]}",
                  "--config.model.hidden_size=4", *extra, workdir=wd)
  assert f"{field}={values[0]} given: the default sweep over {field} is replaced" in log
  record = json.loads((wd / "config.json").read_text())
  short = field.split(".")[-1]
  assert [c["name"] for c in record["conditions"]] == [f"{short}={values[0]}"]
  assert record["config"]["sweep"] == [] and len(record["notes"]) == 1
  node = record["config"]
  for part in field.split("."):
    node = node[part]
  assert node == values[0]
  rows = (wd / "results.csv").read_text().splitlines()
  assert len(rows) == 3 and all(r.startswith(f"{short}={values[0]},") for r in rows[1:])


def test_config_json_records_swept_fields_as_the_values_that_ran(tmp_path):
  wd = tmp_path / "run"
  _sweep("--sweep=model.init.preset=pytorch,tf1", "--config.model.hidden_size=4",
         "--config.model.init.forget_bias=0.5", workdir=wd)
  record = json.loads((wd / "config.json").read_text())
  assert record["config"]["model"]["init"]["preset"] == ["pytorch", "tf1"]
  assert record["config"]["sweep"] == ["model.init.preset=pytorch,tf1"]
  inits = [c["init"] for c in record["conditions"]]
  assert [i["preset"] for i in inits] == ["pytorch", "tf1"]
  assert [i["forget_bias"] for i in inits] == [0.5, 0.5]
  assert inits[0]["bias"] == "pytorch_bias" and inits[1]["input_kernel"].startswith("tf1")
  # Fields no condition read are listed: Adam has no momentum, adding no delay.
  assert {"train.momentum", "task.delay", "model.dropout"} <= set(record["unused"])
  assert "task.length" not in record["unused"] and "train.learning_rate" not in record["unused"]


def test_output_files_keep_the_users_umask(tmp_path):
  wd = tmp_path / "run"
  old = os.umask(0o022)
  try:
    _sweep("--config.model.hidden_size=4", "--sweep=model.init.preset=keras", workdir=wd)
  finally:
    os.umask(old)
  for name in ("config.json", "environment.json", "results.csv", "summary.json", "curves.npz"):
    assert stat.S_IMODE(os.stat(wd / name).st_mode) == 0o644, name


def test_missing_values_in_a_series_file_are_refused_or_handled_as_asked(tmp_path):
  values = np.sin(np.arange(400) / 7.0)
  lines = ["value"] + [f"{v:.5f}" for v in values]
  lines[51], lines[120] = "", "NA"  # file lines 52 and 121
  path = tmp_path / "series.csv"
  path.write_text("\n".join(lines) + "\n")
  args = ["--config=configs/forecast.py", "--config.task.series=file",
          f"--config.task.path={path}", "--config.task.window=8", "--config.model.hidden_size=4",
          "--sweep=model.init.preset=keras"]
  with pytest.raises(ConfigError) as e:
    _sweep(*args, workdir=tmp_path / "refused")
  assert str(e.value) == (
      f"2 missing value(s) of 400 in '{path}' (lines 52, 121); set task.missing to "
      "'drop' (joins the series across each gap, shifting time) or 'interpolate' (linear, "
      "edges held); valid choices: refuse, drop, interpolate")
  _, log = _sweep(*args, "--config.task.missing=interpolate", workdir=tmp_path / "filled")
  assert f"2 missing value(s) of 400 in '{path}' (lines 52, 121) interpolated" in log
  from lstm_init.training.tasks.forecast import load_series
  filled, _ = load_series(str(path), missing="interpolate")
  dropped, _ = load_series(str(path), missing="drop")
  assert filled.shape == (400,) and dropped.shape == (398,)
  np.testing.assert_allclose(filled[50], (values[49] + values[51]) / 2, atol=1e-5)
  np.testing.assert_allclose(dropped[50], values[51], atol=1e-5)


def test_sweep_parsing_types_and_product():
  cfg = tiny_config()
  conds = axes_lib.expand_conditions(cfg, ["model.init.preset=keras,pytorch",
                                        "model.init.forget_bias=0,1", "train.stateful=false"])
  assert len(conds) == 4
  assert conds[1].config.model.init.forget_bias == 1.0
  assert conds[1].name == "preset=keras,forget_bias=1.0,stateful=False"
  with pytest.raises(ConfigError, match="bad value 'x' for model.hidden_size"):
    axes_lib.expand_conditions(cfg, ["model.hidden_size=x"])


def test_each_condition_is_reported_against_its_own_tasks_baseline(tmp_path):
  # Copy memory: the memoryless predictor's cross-entropy is 10 log 8 / (T + 20),
  # so conditions with different delays T have different baselines.
  cfg = tiny_config(name="copy", delay=4)
  cfg.num_seeds = 2
  cfg.train.steps = 10
  wd = str(tmp_path / "run")
  res = sweep.run_sweep(cfg, wd, sweep=["task.delay=4,12"], log=lambda s: None)
  conds = res.summary_record["conditions"]
  for delay in (4, 12):
    c = conds[f"delay={delay}"]
    np.testing.assert_allclose(c["baseline"], 10 * np.log(8) / (delay + 20), rtol=1e-6)
    assert f"T={delay}" in c["task"] or str(delay) in c["task"]
  assert res.summary_record["baseline"] is None and res.summary_record["task"] == "per condition"
  m = merge([results.load_results(wd)])
  assert m.baseline is None
  np.testing.assert_allclose(m.baselines, [10 * np.log(8) / 24, 10 * np.log(8) / 32],
                             rtol=1e-6)


def test_a_sweep_traces_each_program_once(tmp_path, monkeypatch):
  monkeypatch.setattr(programs_lib, "MAX_TRACES", 1)
  cfg = tiny_config()
  cfg.num_seeds = 2
  # Two condition groups (two widths) of two conditions each (one program,
  # two presets' values), each run in two pieces of the same program.
  res = sweep.run_sweep(cfg, str(tmp_path / "run"), log=lambda s: None,
                        sweep=["model.hidden_size=8,12", "model.init.preset=keras,pytorch"])
  assert len(res.rows) == 8 and np.isfinite([r["final_eval_loss"] for r in res.rows]).all()
  # The check is live: a second trace of one program (here, new shapes) is refused.
  cfg.num_seeds = 4
  plan = plan_lib.plan_sweep(cfg, ["model.hidden_size=8"])
  programs = programs_lib.ConditionGroupPrograms(plan, plan.groups[0], seed_group=1)
  data = plan.experiments[0].data
  one = programs.init_groups([(0, 0)]).first
  two = jax.tree.map(lambda a: jnp.concatenate([a, a]), one)
  for n, state in ((1, one), (2, two)):  # a group of 1 run, then 2 stacked: other shapes
    if n == 1:
      programs.compiled(("piece", ((10, 1),)), state, data)
    else:
      with pytest.raises(AssertionError, match="traced"):
        programs.compiled(("piece", ((10, 1),)), state, data)


@pytest.mark.parametrize("args, message", [
    (["--config.train.momentum=0.5"],
     "--config.train.momentum=0.5 would have no effect: it is used only with "
     "train.optimizer=sgd"),
    (["--config.task.delay=5"], "--config.task.delay=5 would have no effect: task 'adding' does "
     "not use it (used by: copy, delayed_recall)"),
    (["--sweep=model.initial_state.noise_std=0.1,0.3"],
     "--sweep=model.initial_state.noise_std=0.1,0.3 would have no effect: it is used only "
     "with model.initial_state.strategy=noisy or learned_noisy"),
    (["--config.model.dropout=0.2"], "it is used only with model.num_layers > 1"),
])
def test_a_value_no_run_would_use_is_refused(args, message):
  cfg = tiny_config()
  given = {}
  sweep_axes = []
  for a in args:
    flag, _, rest = a.partition("=")
    if flag == "--sweep":
      sweep_axes.append(rest)
    else:
      path = flag[len("--config."):]
      given[path] = axes_lib.set_from_text(cfg, path, rest)
  with pytest.raises(ConfigError) as e:
    plan_lib.plan_sweep(cfg, sweep_axes, given)
  assert message in str(e.value)
  # Where a condition uses it, it is accepted.
  cfg.model.num_layers = 2
  cfg.train.optimizer = "sgd"
  cfg.task.name = "copy"
  plan_lib.plan_sweep(cfg, ["model.initial_state.strategy=zeros,noisy"],
                   {k: v for k, v in given.items()})
