"""The documentation: the site builds with warnings as errors and runs its
notebook pages, its generated pages are current, and its command lines are
ones the entry points accept, on files and folders that exist when pasted in
order."""

import os
import re
import subprocess
import sys

import pytest

from docs import commands as doc_commands
from docs import config_reference, readme_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
ENTRY_POINTS = {f"experiments.{f[:-3]}" for f in os.listdir(os.path.join(ROOT, "experiments"))
                if f.endswith(".py") and not f.startswith("_")}


def _read(path):
  with open(path) as f:
    return f.read()


def test_the_site_builds_with_warnings_as_errors_and_runs_its_notebooks(tmp_path):
  # -W: a broken cross-reference, a page missing from the table of contents, a
  # docstring that is not valid reStructuredText or a notebook cell that raises
  # fails the build. The notebooks compile through the suite's compilation cache
  # (tests/conftest.py sets it in the environment the build inherits).
  html = tmp_path / "html"
  out = subprocess.run(
      [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
       "-d", str(tmp_path / "doctrees"), DOCS, str(html)],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, LSTM_INIT_DOCS_EXECUTE="force"))
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
  pages = [os.path.relpath(p, DOCS)[:-3] for p in doc_commands.documents()[1:]]
  missing = [p for p in pages if not (html / f"{p}.html").exists()]
  assert not missing, missing
  # The executed cells' outputs are on the pages: the by-hand block printed its
  # shapes, the notebook its runs table, the initializer table its names.
  initializers = _read(html / "guides" / "initializers.html")
  assert "(4, 10, 64) 1" in initializers and "variance_scaling(scale=1.0" in initializers
  notebook = _read(html / "guides" / "notebook.html")
  assert "preset=pytorch" in notebook and "final_eval_loss" in notebook
  # The API pages come from the docstrings (napoleon's fields included).
  api = _read(html / "reference" / "api.html")
  assert "init_params" in api and "Returns" in api and "variance_scaling" in api


def test_the_config_reference_is_current():
  assert _read(config_reference.PAGE) == config_reference.markdown(), (
      "docs/reference/config.md is out of date: python -m docs.config_reference")


def test_the_config_reference_lists_every_field_and_initializer():
  text = _read(config_reference.PAGE)
  for row in config_reference.rows():
    assert f"| `{row.path}` |" in text
  from lstm_init.core import initializers
  for name in initializers.initializer_names():
    assert f"| `{name}` |" in text


def _defined_flags():
  names = set()
  files = [os.path.join(ROOT, "experiments", f) for f in os.listdir(
      os.path.join(ROOT, "experiments")) if f.endswith(".py")]
  for folder, _, found in os.walk(os.path.join(ROOT, "lstm_init")):
    files += [os.path.join(folder, f) for f in found if f.endswith(".py")]
  for path in files:
    names |= set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", _read(path)))
  return names


def test_every_flag_of_the_entry_points_is_documented():
  cli = _read(os.path.join(DOCS, "reference", "cli.md"))
  flags = _defined_flags()
  assert {"workdir", "sweep", "cpu_devices", "compilation_cache"} <= flags
  undocumented = sorted(f for f in flags if f"--{f}" not in cli)
  assert not undocumented, f"flags missing from docs/reference/cli.md: {undocumented}"


def test_command_extraction(tmp_path):
  page = tmp_path / "page.md"
  page.write_text(
      "Text `python -m experiments.report runs/a --aggregate` inline.\n\n"
      "```bash\n"
      ".venv/bin/python -m experiments.seed_sweep --config=configs/copy.py \\\n"
      "    --workdir=runs/x   # a comment\n"
      "python3 -m venv .venv && .venv/bin/python -m experiments.best_seed --workdir=runs/b\n"
      "A=1 B=two python -m experiments.seed_sweep --workdir=runs/two &\n"
      "$ python -m experiments.reproduce --workdir=runs/x\n"
      "python -m pytest -q tests\n"
      "```\n")
  found = doc_commands.commands_in(str(page), str(tmp_path))
  assert [(c.where, c.argv, c.env) for c in found] == [
      ("page.md:1", ("-m", "experiments.report", "runs/a", "--aggregate"), ()),
      ("page.md:4", ("-m", "experiments.seed_sweep", "--config=configs/copy.py",
                     "--workdir=runs/x"), ()),
      ("page.md:6", ("-m", "experiments.best_seed", "--workdir=runs/b"), ()),
      ("page.md:7", ("-m", "experiments.seed_sweep", "--workdir=runs/two"),
       (("A", "1"), ("B", "two"))),
      ("page.md:8", ("-m", "experiments.reproduce", "--workdir=runs/x"), ())]


def _value(argv, flag):
  return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{flag}=")]


def _reads(cmd):
  """The folders a command reads: reproduce's workdir, a joined sweep, report's inputs."""
  if cmd.module == "experiments.reproduce":
    return _value(cmd.argv, "workdir")
  if cmd.module == "experiments.report":
    return [a for a in cmd.argv[2:] if not a.startswith("-")]
  return _value(cmd.argv, "sweep_workdir")


def test_documented_commands_paste():
  found = doc_commands.documented_commands()
  assert found[0].where == "README.md:27" and found[0].argv == ("-m", "experiments.seed_sweep")
  assert len(found) >= 50
  for cmd in found:
    assert cmd.module in ENTRY_POINTS, cmd
    assert not any("<" in a or "..." in a for a in cmd.argv), f"placeholder in {cmd}"
    for flag in ("config", "config.task.path"):
      for path in _value(cmd.argv, flag):
        assert os.path.exists(os.path.join(ROOT, path)), f"{cmd.where}: no file {path}"
  # A folder a command reads was written by a documented command before it on
  # the same page, or is the Quick start's named folder (Getting started).
  quickstart = [c for c in found if c.where.startswith("docs/getting_started.md")
                and _value(c.argv, "workdir") == ["runs/quickstart"]]
  assert quickstart
  by_page = {}
  for cmd in found:
    by_page.setdefault(cmd.where.split(":")[0], []).append(cmd)
  for page, cmds in by_page.items():
    written = {"runs/quickstart"}
    for cmd in cmds:
      for folder in _reads(cmd):
        assert folder in written, f"{cmd.where}: {folder} is written by no command before it"
      written |= set(_value(cmd.argv, "workdir"))


def test_every_table_block_has_a_home_and_is_rewritten_in_place(tmp_path):
  texts = {p: _read(p) for p in readme_tables.documents()}
  for name in readme_tables.STUDIES:
    assert readme_tables.where(texts, name)
  text = "a\n<!-- table x -->\nold\n<!-- /table -->\nb\n<!-- table y -->\nkeep\n<!-- /table -->\n"
  assert readme_tables.replace(text, "x", "new") == text.replace("old", "new")
  with pytest.raises(SystemExit, match="no document holds a block <!-- table z -->"):
    readme_tables.where({"page.md": text}, "z")


def test_every_documented_command_plans_with_dry_run():
  """Each `python -m experiments.*` of the README and the docs, with --dry_run
  (docs.dry_run: the commands of an entry point share one process, forked from a
  server that has imported JAX: tests/forked.py)."""
  from tests import forked
  lines, errors, codes = [], [], []
  for module in sorted({c.module for c in doc_commands.documented_commands()}):
    out = forked.run(["-m", "docs.dry_run", module], timeout=300)
    lines += out.stdout.splitlines()
    codes.append(out.returncode)
    errors.append(out.stderr[-500:] if out.returncode else "")
  failed = [l for l in lines if not l.startswith("ok ")]
  assert not any(codes) and not failed, "\n".join(failed) + "".join(errors)
  assert len(lines) >= 50
