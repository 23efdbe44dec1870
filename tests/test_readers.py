"""Readers of a workdir (load_results, the report, reproduce): every missing,
empty, cut-short or mixed file is one line naming it, and nothing is written."""

import hashlib
import json
import os
import shutil

import pytest

from lstm_init.engine import reproduce, sweep
from lstm_init.errors import ConfigError
from lstm_init.report import document
from lstm_init.report.results import load_results
from tests import forked
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """Two finished tiny sweeps: a (keras, pytorch; 3 seeds) and b (chrono; 2 seeds)."""
  root = tmp_path_factory.mktemp("readers")
  a = tiny_config()
  a.num_seeds = 3
  sweep.run_sweep(a, str(root / "a"), sweep=["model.init.preset=keras,pytorch"],
                  log=lambda s: None)
  b = tiny_config()
  b.num_seeds = 2
  sweep.run_sweep(b, str(root / "b"), sweep=["model.init.preset=chrono"], log=lambda s: None)
  return root


def _copy(finished, tmp_path, name="a"):
  out = tmp_path / name
  shutil.copytree(finished / name, out)
  return out


def _digests(folder):
  return {name: hashlib.sha256(open(folder / name, "rb").read()).hexdigest()
          for name in sorted(os.listdir(folder)) if os.path.isfile(folder / name)}


def _refused_by_every_reader(wd, tmp_path, *pieces):
  """load_results, the report and reproduce each refuse `wd` with one line
  holding `pieces`; no file of `wd` changes, and no report is written."""
  before = _digests(wd)
  readers = [load_results, lambda w: document.write_report([w], str(tmp_path / "out")),
             reproduce.read_records]
  for read in readers:
    with pytest.raises(ConfigError) as e:
      read(str(wd))
    line = str(e.value)
    assert "\n" not in line
    for piece in pieces:
      assert piece in line, (piece, line)
  assert _digests(wd) == before
  assert not (tmp_path / "out").exists()


def test_summary_json_carries_the_identity_config_json_carries(finished):
  record = json.load(open(finished / "a" / "config.json"))
  summary = json.load(open(finished / "a" / "summary.json"))
  assert summary["identity"] == record["identity"]
  assert summary["identity"]["conditions"] == ["preset=keras", "preset=pytorch"]
  assert summary["identity"]["seeds"] == [3, 3]


@pytest.mark.parametrize("text", ["", "{\"config\": {", "[1, 2]"])
def test_an_empty_or_damaged_config_json(finished, tmp_path, text):
  wd = _copy(finished, tmp_path)
  (wd / "config.json").write_text(text)
  _refused_by_every_reader(wd, tmp_path, str(wd / "config.json"))


def test_a_damaged_summary_or_environment_json(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  (wd / "environment.json").write_text("{\"versions\"")
  with pytest.raises(ConfigError, match=f"{wd / 'environment.json'} is damaged or cut short"):
    load_results(str(wd))
  shutil.copy(finished / "a" / "environment.json", wd)
  (wd / "summary.json").write_text("")
  with pytest.raises(ConfigError, match=f"{wd / 'summary.json'} is damaged or cut short "
                     "\\(ValueError: the file is empty\\)"):
    load_results(str(wd))


def test_a_truncated_curves_npz(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  data = open(wd / "curves.npz", "rb").read()
  open(wd / "curves.npz", "wb").write(data[:len(data) // 2])
  _refused_by_every_reader(wd, tmp_path, str(wd / "curves.npz"), "damaged or cut short",
                           "BadZipFile")


def test_a_header_only_results_csv(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  header = open(wd / "results.csv").readline()
  (wd / "results.csv").write_text(header)
  _refused_by_every_reader(wd, tmp_path, str(wd / "results.csv"), "holds no runs")


def test_a_results_csv_row_cut_short(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  lines = open(wd / "results.csv").read().splitlines()
  (wd / "results.csv").write_text("\n".join(lines[:-1] + [lines[-1][:20]]) + "\n")
  _refused_by_every_reader(wd, tmp_path, str(wd / "results.csv"), "number of cells")


def test_reproduce_names_what_is_missing(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  os.remove(wd / "curves.npz")
  with pytest.raises(ConfigError, match="cannot be re-trained: it has no curves.npz \\(every "
                     "run's learning curves\\); results.csv and curves.npz are written when a "
                     "sweep ends"):
    reproduce.read_records(str(wd))
  os.remove(wd / "environment.json")
  with pytest.raises(ConfigError, match="it has no environment.json \\(what decided the bits\\); "
                     "no curves.npz"):
    reproduce.read_records(str(wd))


def test_results_of_another_sweep_than_config_json_are_refused(finished, tmp_path):
  # The results of sweep b beside the config of sweep a (what a crash between
  # two sweeps' writes could leave): refused, naming the part that differs.
  wd = _copy(finished, tmp_path)
  for name in ("results.csv", "summary.json", "curves.npz"):
    shutil.copy(finished / "b" / name, wd / name)
  _refused_by_every_reader(wd, tmp_path, "the results were written by another sweep than "
                           "config.json describes", "'conditions'", "preset=chrono",
                           "preset=keras")
  # A folder written before summary.json carried the identity is read as it is.
  old = _copy(finished, tmp_path, "b")
  summary = json.load(open(old / "summary.json"))
  del summary["identity"]
  json.dump(summary, open(old / "summary.json", "w"))
  assert load_results(str(old)).conditions == ["preset=chrono"]


def test_the_report_refuses_an_out_that_is_a_file(finished, tmp_path):
  out = tmp_path / "report.txt"
  out.write_text("mine")
  with pytest.raises(ConfigError, match=f"--out '{out}' is a file, not a folder"):
    document.write_report([str(finished / "a")], str(out))
  assert out.read_text() == "mine"
  cli = forked.run(["-m", "experiments.report", str(finished / "a"), f"--out={out}"],
                   timeout=120)
  assert cli.returncode == 2 and cli.stderr.strip().splitlines() == [
      f"error: --out '{out}' is a file, not a folder; valid: a folder (created if missing)"], \
      cli.stderr[-2000:]
  too_long = tmp_path / ("y" * 300)
  with pytest.raises(ConfigError, match="cannot be created: File name too long"):
    document.write_report([str(finished / "a")], str(too_long))


def test_the_report_entry_point_says_a_damaged_file_in_one_line(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  (wd / "config.json").write_text("")
  out = forked.run(["-m", "experiments.report", str(wd)], timeout=120)
  assert out.returncode == 2, out.stderr[-2000:]
  assert out.stderr.strip().splitlines() == [
      f"error: {wd / 'config.json'} is damaged or cut short (ValueError: the file is empty); run "
      "the sweep's command again to rewrite it (with --overwrite, which moves the folder's "
      "records aside), or restore the file"]
