"""Re-measure the documented tables: run each documented command, paste what it wrote.

  python -m docs.readme_tables                      # every study, in order
  python -m docs.readme_tables --only=quickstart,cartpole
  python -m docs.readme_tables --check              # rewrite nothing: exit 1 if a table differs

Every block between `<!-- table NAME -->` and `<!-- /table -->`, in README.md
or in any page under docs/ (a NAME may appear in several places: each gets
the same body), is produced by
the study NAME below: its command runs in a fresh process (with the machine's
compilation cache, into `runs/readme/NAME`; the Quick start's into
`runs/quickstart`, the folder the documented commands after it read), and the block
becomes the tables that run wrote: the printed summary for the Quick start
(verbatim, as the command prints it), the report's tables for the sweeps
(`report.md`: the final scores, and where a sweep has them the grid by two
axes and the variance split), `best_seed.md` and `signal.md` for the studies.
Each block ends with the command and its wall time on the machine that ran it.
A seed's result follows from the command and the kind of machine alone, so
the tables are the same bits on any run of this script with the versions of
`constraints.txt` on a CPU (the times are not).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
SWEEP = ["-m", "experiments.seed_sweep"]


@dataclasses.dataclass(frozen=True)
class Study:
  """A documented block: the command (after `python`), and what of its output it shows."""

  args: tuple[str, ...]
  output: str = "report.md"       # "printed", "report.md", "best_seed.md", "signal.md"
  # headings whose tables it shows: those that start with one of these ("*x":
  # that contain x); None: every table of the output
  sections: tuple[str, ...] | None = ("Final", "Mean")
  workdir: str | None = None      # None: runs/readme/<name>
  # whether the shown command names its workdir (a later study reads it)
  shows_workdir: bool = False


MEMORY = ("--config=configs/a2c_memory.py", "--config.rl.memory_length=20",
          "--config.model.init.preset=keras")
STUDIES = {
    # the Quick start, into the folder that the documented commands after it name
    "quickstart": Study(tuple(SWEEP), "printed", workdir=os.path.join("runs", "quickstart")),
    "stateful": Study((*SWEEP, "--config=configs/stateful.py")),
    "stateful_forecast": Study((*SWEEP, "--config=configs/stateful_forecast.py")),
    "gru": Study((*SWEEP, "--config=examples/gru_forecast.py")),
    "best_seed_0": Study(("-m", "experiments.best_seed"), "best_seed.md", None),
    "best_seed_1": Study(("-m", "experiments.best_seed", "--config.seed=1"), "best_seed.md",
                         None),
    "best_seed_2": Study(("-m", "experiments.best_seed", "--config.seed=2"), "best_seed.md",
                         None),
    "variance": Study((*SWEEP, "--config=configs/variance.py"),
                      sections=("Final", "Where the variance")),
    "cartpole": Study((*SWEEP, "--config=configs/a2c_cartpole.py")),
    "memory": Study((*SWEEP, "--config=configs/a2c_memory.py"),
                    sections=("Mean", "Final", "* by ")),
    "memory_cosine": Study((*SWEEP, "--config=configs/a2c_memory.py",
                            "--config.train.schedule=cosine"),
                           sections=("Mean", "Final", "* by ")),
    "memory_states": Study((*SWEEP, *MEMORY, "--sweep=model.initial_state.strategy=zeros,"
                            "learned,noisy,learned_noisy")),
    "memory_crossed": Study((*SWEEP, *MEMORY, "--config.design=crossed"),
                            sections=("Mean", "Final", "Where the variance")),
    "pendulum": Study((*SWEEP, "--config=configs/a2c_pendulum.py")),
    "signal": Study(("-m", "experiments.signal_propagation"), "signal.md", None),
    # the diagnostics joined with the Quick start's run (which must come first)
    "signal_default": Study(("-m", "experiments.signal_propagation",
                             "--sweep_workdir=runs/quickstart"), "signal.md",
                            sections=("Do the diagnostics",)),
    # Published findings, reproduced (configs/papers/, scale="cpu")
    **{f"paper_{name}": Study((*SWEEP, f"--config=configs/papers/{name}.py"),
                              sections=("Final", "Mean", "Where the variance",
                                        "Numerical instability"))
       for name in ("chrono_copy", "copy_baseline", "irnn_adding", "instability",
                    "instability_a2c")},
    **{f"paper_{name}": Study((*SWEEP, f"--config=configs/papers/{name}.py"),
                              sections=("Final", "Pairwise"),
                              shows_workdir=name in ("chrono_adding", "adding_lstm_tanh"))
       for name in ("forget_bias", "chrono_adding", "adding_lstm_tanh", "copy_lstm_budget")},
    "paper_chrono_adding_long": Study((*SWEEP, "--config=configs/papers/chrono_adding.py",
                                       "--config.train.steps=3000", "--config.num_seeds=4",
                                       "--config.train.log_every=500"),
                                      sections=("Final", "Pairwise"), shows_workdir=True),
    "paper_chrono_adding_t100": Study((*SWEEP, "--config=configs/papers/chrono_adding.py",
                                       "--config.task.length=100", "--config.model.init.t_max=100",
                                       "--config.train.steps=5000", "--config.num_seeds=4",
                                       "--config.train.log_every=500"),
                                      sections=("Final", "Pairwise"), shows_workdir=True),
    # steps to MSE 0.01 read from the sweeps above (which must come first)
    **{f"paper_{name}_steps": Study(("-m", "experiments.steps_to_threshold",
                                     f"--sweep_workdir=runs/readme/paper_{name}",
                                     "--threshold=0.01"), "steps_to_threshold.md", None)
       for name in ("chrono_adding", "adding_lstm_tanh", "chrono_adding_long",
                    "chrono_adding_t100")},
}

_ONLY = flags.DEFINE_list("only", [], f"Studies to run (default: all): {', '.join(STUDIES)}.")
_CHECK = flags.DEFINE_bool("check", False,
                           "Compare with the documents instead of rewriting them.")


def tables(text: str, sections: tuple[str, ...] | None) -> list[str]:
  """The markdown tables under the `## ` headings that `sections` select (None:
  every table of the text)."""
  out, keep, current, heading = [], sections is None, [], ""
  for line in text.splitlines() + ["## end"]:
    if line.startswith("#") and sections is not None:
      title = line[3:]
      keep = line.startswith("## ") and any(
          s[1:] in title if s.startswith("*") else title.startswith(s) for s in sections)
      heading = line
    if line.startswith("|") and keep:
      if not current and heading:
        current += [f"**{heading.lstrip('# ')}**", ""]
      current.append(line)
    elif current:
      out.append("\n".join(current))
      current = []
  return out


def printed_summary(stdout: str) -> str:
  """The summary table the sweep printed, verbatim."""
  lines = stdout.splitlines()
  start = next(i for i, l in enumerate(lines) if l.startswith(("Final ", "Mean ")))
  end = next(i for i in range(start, len(lines)) if lines[i].startswith("time:"))
  return "```text\n" + "\n".join(lines[start:end]) + "\n```"


def run(name: str, study: Study) -> str:
  """Runs a study; returns its block's body."""
  workdir = study.workdir or os.path.join("runs", "readme", name)
  shutil.rmtree(os.path.join(ROOT, workdir), ignore_errors=True)  # a fresh run, timed whole
  cmd = [sys.executable, *study.args, f"--workdir={workdir}"]
  start = time.perf_counter()
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  wall = time.perf_counter() - start
  if out.returncode != 0:
    raise SystemExit(f"{name}: {' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
  return block(name, study, workdir, out.stdout, wall)


def block(name: str, study: Study, workdir: str, stdout: str, wall: float) -> str:
  """The block of a finished study: its tables, command and wall time."""
  if study.output == "printed":
    body = printed_summary(stdout)
  else:
    with open(os.path.join(ROOT, workdir, study.output)) as f:
      text = f.read()
    if study.output == "best_seed.md":  # its words and its table, without title and figure
      body = "\n".join(l for l in text.splitlines()[2:] if not l.startswith("![")).strip()
    else:
      body = "\n\n".join(tables(text, study.sections))
  shown = " ".join(["python", *study.args, *([f"--workdir={workdir}"] if study.shows_workdir
                                              else [])])
  print(f"{name}: {wall:.0f} s", flush=True)
  return f"{body}\n\n`{shown}` ({wall:.0f} s on this machine when the table was made)"


def documents() -> list[str]:
  """README.md and every Markdown page under docs/, in a fixed order."""
  pages = [README]
  for folder, dirs, files in os.walk(DOCS):
    dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
    pages += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
  return pages


def _pattern(name: str) -> re.Pattern:
  return re.compile(rf"(<!-- table {re.escape(name)} -->\n)(?:(?!<!-- /table -->).)*"
                    r"(<!-- /table -->)", re.S)


def where(texts: dict[str, str], name: str) -> list[str]:
  """The documents that hold block NAME (at least one; the same body in each).

  Args:
    texts: path -> text of every document.
    name: a study's name.

  Returns:
    The paths of the documents that hold the block.
  """
  found = [path for path, text in texts.items() if _pattern(name).search(text)]
  if not found:
    raise SystemExit(f"no document holds a block <!-- table {name} --> ... <!-- /table -->; "
                     f"looked in README.md and docs/**/*.md")
  return found


def replace(text: str, name: str, body: str) -> str:
  """TEXT with block NAME's body replaced by BODY."""
  return _pattern(name).sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def _without_times(text: str) -> str:
  return re.sub(r"\(\d+ s on this machine when the table was made\)", "", text)


def main(argv):
  del argv
  names = _ONLY.value or list(STUDIES)
  unknown = [n for n in names if n not in STUDIES]
  if unknown:
    raise SystemExit(f"unknown study {unknown[0]!r}; valid choices: {', '.join(STUDIES)}")
  before = {}
  for path in documents():
    with open(path) as f:
      before[path] = f.read()
  homes = {name: where(before, name) for name in names}  # every block found before any run
  after = dict(before)
  for name in names:
    body = run(name, STUDIES[name])
    for path in homes[name]:
      after[path] = replace(after[path], name, body)
  changed = [p for p in after if _without_times(after[p]) != _without_times(before[p])]
  if _CHECK.value:
    print("tables " + ("differ from what the commands print in: " +
                       ", ".join(os.path.relpath(p, ROOT) for p in changed) if changed
                       else "match what the commands print"))
    sys.exit(1 if changed else 0)
  for path in after:
    if after[path] != before[path]:
      with open(path, "w") as f:
        f.write(after[path])
  print(f"rewrote {len(names)} table block(s) in "
        f"{len({p for n in names for p in homes[n]})} document(s)")


if __name__ == "__main__":
  app.run(main)
