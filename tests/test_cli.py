"""The entry points as a user meets them: one smoke run per entry point, --help,
--dry_run, one-line errors with their exit status. Each command is a process of
its own, forked from a server that has imported JAX and lstm_init once
(tests/forked.py), as `python -m experiments.<name>` would run it."""

import json
import os

import pytest

from tests import forked

TINY = ["--config.num_seeds=2", "--config.train.steps=20", "--config.train.log_every=10",
        "--config.task.length=6", "--config.model.hidden_size=4", "--config.task.eval_size=32",
        "--config.seed_group=1", "--cpu_devices=1"]
ENTRY_POINTS = ("seed_sweep", "best_seed", "report", "reproduce", "signal_propagation")


def _run(module, *args, timeout=300):
  return forked.run(["-m", f"experiments.{module}", *args], timeout=timeout)


def _one_line(out, status, *pieces):
  assert out.returncode == status, out.stdout[-2000:] + out.stderr[-2000:]
  assert "Traceback" not in out.stderr
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
  for p in pieces:
    assert p in lines[0], (p, lines[0])


def test_a_sweep_its_report_and_its_reproduction_from_the_command_line(tmp_path):
  wd = tmp_path / "run"
  dry = _run("seed_sweep", *TINY, f"--workdir={wd}", "--dry_run")
  assert dry.returncode == 0, dry.stderr[-2000:]
  assert "dry run: nothing was trained or written" in dry.stdout and not wd.exists()
  out = _run("seed_sweep", *TINY, f"--workdir={wd}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "Final validation loss per condition" in out.stdout
  assert "first training step at" in out.stdout
  used = next(l for l in out.stdout.splitlines() if l.startswith("compilation cache: "))
  env = json.load(open(wd / "environment.json"))
  assert env["compilation_cache"] == used.split(": ", 1)[1] and env["seed_groups"] == [1]
  t = env["timings"]
  for k in ("startup_s", "plan_s", "compile_s", "time_to_first_step_s", "training_s",
            "outputs_s", "total_s"):
    assert t[k] >= 0, (k, t)
  assert t["startup_s"] + t["plan_s"] <= t["time_to_first_step_s"] <= t["total_s"]
  assert out.stdout.strip().splitlines()[-1] == f"workdir: {wd}"
  for name in ("results.csv", "summary.json", "curves.npz", "report.md", "config.json"):
    assert (wd / name).exists(), name
  again = _run("seed_sweep", *TINY, f"--workdir={wd}")
  assert "is finished: it holds this sweep's results; nothing to train" in again.stdout
  # --compilation_cache (every training entry point's, cli.start_run): a new folder,
  # so the re-training compiles into it.
  cache = tmp_path / "cache"
  rep = _run("reproduce", f"--workdir={wd}", "--seeds=1", "--condition=preset=pytorch",
             "--cpu_devices=1", f"--compilation_cache={cache}")
  assert rep.returncode == 0, rep.stderr[-2000:]
  assert "all 1 run(s) identical to the bit" in rep.stdout
  assert f"compilation cache: {cache}" in rep.stdout
  assert len(os.listdir(cache)) >= 3  # the init, the pieces, the evaluations
  report = _run("report", str(wd), f"--out={tmp_path / 'again'}")
  assert report.returncode == 0 and (tmp_path / "again" / "report.md").exists(), report.stderr


def test_help_lists_the_flags_a_user_needs():
  for module, flags in [("seed_sweep", ["--config", "--sweep", "--workdir", "--dry_run",
                                        "--cpu_devices", "--compilation_cache", "--overwrite",
                                        "--trace"]),
                        ("best_seed", ["--config", "--workdir", "--dry_run", "--overwrite"]),
                        ("reproduce", ["--workdir", "--seeds", "--condition", "--dry_run"])]:
    out = _run(module, "--help", timeout=120)
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stderr[-1000:]
    for flag in flags:
      shown = (f"  {flag}:", f"  --[no]{flag[2:]}:")  # booleans read --[no]name
      assert any(s in out.stdout for s in shown), (module, flag, out.stdout[-3000:])


@pytest.mark.parametrize("args, status, pieces", [
    (["--config.model.hidden_sise=8"], 2, ["bad flag", "hidden_sise"]),
    (["--config.train.learning_rate=-1"], 2, ["bad value -1.0 for train.learning_rate; valid: > 0"]),
    (["--sweep=model.init.preset=keras,nope"], 2, ["unknown preset 'nope'"]),
    (["--config=configs/missing.py"], 2, ["cannot load the config file", "no such file"]),
])
def test_bad_input_is_one_line_with_exit_status_2_and_nothing_written(tmp_path, args, status,
                                                                       pieces):
  files = [a for a in args if a.startswith("--config=")]  # a config file comes first
  rest = [a for a in args if not a.startswith("--config=")]
  out = _run("seed_sweep", *files, *TINY, f"--workdir={tmp_path / 'w'}", *rest)
  _one_line(out, status, *pieces)
  assert not (tmp_path / "w").exists()
