"""Write the config reference page from the declared config fields.

  python -m docs.config_reference            # rewrite docs/reference/config.md
  python -m docs.config_reference --check    # exit 1 if the page differs

`rows()` yields one row per config field: its dotted path, its default, its
valid values, its comment and when it is read. They come from the fields'
declarations (`lstm_init.engine.spec.schema.reference()`, the same
declarations that build `base_config()` and check every value), so the page
cannot disagree with what the command line accepts. `markdown()` lays the
rows out as one table per section.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Iterator

from lstm_init.core import initializers
from lstm_init.engine.spec import schema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "reference", "config.md")

Row = schema.Row


def rows() -> Iterator[Row]:
  """Every config field: path, default, valid values, comment, when it is read.

  Returns:
    An iterator of `Row`s, section by section, in declaration order.
  """
  yield from schema.reference()


_SECTIONS = (("", "Top level: seeds, designs, the sweep, resources"),
             ("task.", "task: the data"),
             ("model.", "model: the network"),
             ("model.init.", "model.init: the initialization"),
             ("model.initial_state.", "model.initial_state: the initial state"),
             ("train.", "train: the optimizer and the loop"),
             ("signal.", "signal: the signal-propagation study"),
             ("rl.", "rl: the recurrent A2C agent (configs/a2c_*.py only)"))


def _section(path: str) -> str:
  """The longest section prefix of `path` ('' for a top-level field)."""
  return max((p for p, _ in _SECTIONS if path.startswith(p)), key=len)


def _cell(text: Any) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def _shown(value: Any) -> str:
  return "None" if value is None else f"`{value!r}`"


INITIALIZER_FIELDS = ("model.init.input_kernel", "model.init.recurrent_kernel",
                      "model.init.bias", "model.init.readout")


def _valid(row: Row) -> str:
  if row.path in INITIALIZER_FIELDS and not row.valid:
    return "an initializer name with its arguments ([below](#initializer-names))"
  return row.valid


def initializer_table() -> list[str]:
  """The initializer names with their arguments, as Markdown table lines."""
  out = ["| name | arguments (defaults) | what it draws |", "|---|---|---|"]
  for name, signature, doc in initializers.describe_initializers():
    out.append(f"| `{name}` | `{_cell(signature)}` | {_cell(doc)} |")
  return out


def markdown() -> str:
  """The reference page: one table per section of the config, then the initializers."""
  fields = list(rows())
  out = ["# Config fields", "",
         "Every field of every config, with its default (`configs/*.py` change some of "
         "them; `config.json` in a workdir records what ran). Set one with "
         "`--config.<path>=<value>`, sweep one with `--sweep=<path>=<v1>,<v2>,...`, or "
         "from Python with `lstm_init.config(path, **{\"<path>\": value})`. A value that "
         "no condition reads is refused with the setting that would read it (the last "
         "column).", "",
         "The `rl` section exists in the A2C configs only (`config.experiment = \"a2c\"`, "
         "`configs/a2c_*.py`). This page is generated from the fields' declarations by "
         "`python -m docs.config_reference`; a test checks that it is current.", ""]
  for prefix, title in _SECTIONS:
    mine = [r for r in fields if _section(r.path) == prefix]
    if not mine:
      continue
    out += [f"## {title}", "", "| field | default | valid | what it does | read when |",
            "|---|---|---|---|---|"]
    out += [f"| `{r.path}` | {_cell(_shown(r.default))} | {_cell(_valid(r))} | "
            f"{_cell(r.comment)} | {_cell(r.used) or 'always'} |" for r in mine]
    out.append("")
  out += ["## Initializer names", "",
          "`model.init.input_kernel`, `model.init.recurrent_kernel`, `model.init.bias` and "
          "`model.init.readout` take an initializer by name, with its arguments in "
          "parentheses or after colons: `variance_scaling(scale=2,mode=fan_out,"
          "distribution=uniform)`, `variance_scaling:2:fan_out:uniform` and "
          "`VarianceScaling(scale=2, mode='fan_out', distribution='uniform')` are the same "
          "initializer (see [Initializers](../guides/initializers.md#initializers-by-name)). "
          "`lstm_init.initializers.initializer_names()` lists the names.", ""]
  out += initializer_table() + [""]
  return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true",
                      help="compare with docs/reference/config.md instead of rewriting it")
  args = parser.parse_args(argv)
  text = markdown()
  if args.check:
    with open(PAGE) as f:
      same = f.read() == text
    print("docs/reference/config.md is " + ("current" if same else
          "out of date: run python -m docs.config_reference"))
    return 0 if same else 1
  with open(PAGE, "w") as f:
    f.write(text)
  print(f"wrote {os.path.relpath(PAGE, ROOT)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
