"""The documented command lines: every `python -m experiments.*` in the docs.

  for cmd in documented_commands():
    print(cmd.where, cmd.argv)     # "docs/guides/stateful.md:12", ["-m", "experiments...", ...]

Commands are read from README.md and every page under docs/: from code
blocks (one command per line; a trailing `\\` joins the next line; a `#`
comment, a `$ ` prompt, a trailing `&` and `VAR=value` prefixes are dropped)
and from inline code in the text (`` `python -m experiments.report ...` ``).
The Python that runs them is dropped too (`python`, `.venv/bin/python`), so
`argv` starts at `-m`. The test suite runs each with `--dry_run`, so a renamed
flag, config or path in the docs breaks the build.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PYTHON = re.compile(r"(?:^|\s|&&\s*)(?:\S*/)?python3?\s+-m\s+experiments\.")
_INLINE = re.compile(r"`(?:\S*/)?python3? -m experiments\.[^`]*`")


@dataclasses.dataclass(frozen=True)
class Command:
  """One documented command line."""

  where: str               # "path:line", relative to the repository root
  argv: tuple[str, ...]    # from "-m": ("-m", "experiments.seed_sweep", "--workdir=...")
  env: tuple[tuple[str, str], ...] = ()   # VAR=value prefixes

  @property
  def module(self) -> str:
    return self.argv[1]


def documents(root: str = ROOT) -> list[str]:
  """README.md and every Markdown page under docs/ (sorted)."""
  pages = [os.path.join(root, "README.md")]
  for folder, dirs, files in os.walk(os.path.join(root, "docs")):
    dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
    pages += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
  return pages


def parse_line(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
  """One shell line as (argv from "-m", env prefixes), or None if it runs no
  `python -m experiments.*`.

  Args:
    text: a command line (continuations already joined).

  Returns:
    (argv, env) or None.
  """
  text = text.strip()
  if text.startswith("$ "):
    text = text[2:]
  match = _PYTHON.search(text)
  if not match:
    return None
  start = text.index("python", match.start())
  start = text.rfind(" ", 0, start) + 1 if "/" in text[text.rfind(" ", 0, start) + 1:start] \
      else start
  words = shlex.split(text[start:], comments=True)
  env = tuple(tuple(w.split("=", 1)) for w in shlex.split(text[:start], comments=True)
              if re.match(r"^[A-Z_][A-Z0-9_]*=", w))
  if words and words[-1] == "&":
    words = words[:-1]
  for i, w in enumerate(words):    # "cmd && other": the first command only
    if w in ("&&", ";", "|"):
      words = words[:i]
      break
  return tuple(words[1:]), env


def _blocks(lines: list[str]) -> Iterator[tuple[int, str]]:
  """(line number, logical line) of every line inside a code fence."""
  fence, pending, first = None, "", 0
  for number, line in enumerate(lines, 1):
    stripped = line.strip()
    if stripped.startswith(("```", "~~~")):
      fence = None if fence else stripped[:3]
      continue
    if not fence:
      continue
    if not pending:
      first = number
    if stripped.endswith("\\"):
      pending += stripped[:-1] + " "
      continue
    yield first, pending + stripped
    pending = ""


def commands_in(path: str, root: str = ROOT) -> list[Command]:
  """The documented commands of one Markdown file, in order.

  Args:
    path: the file.
    root: what `where` is relative to.

  Returns:
    Its `Command`s (code blocks and inline code, in line order).
  """
  with open(path) as f:
    lines = f.read().splitlines()
  rel = os.path.relpath(path, root)
  found = []
  for number, line in _blocks(lines):
    parsed = parse_line(line)
    if parsed:
      found.append((number, parsed))
  fence = False
  for number, line in enumerate(lines, 1):
    if line.strip().startswith(("```", "~~~")):
      fence = not fence
      continue
    if fence:
      continue
    for match in _INLINE.finditer(line):
      parsed = parse_line(match.group(0).strip("`"))
      if parsed:
        found.append((number, parsed))
  return [Command(f"{rel}:{n}", argv, env) for n, (argv, env) in sorted(found,
                                                                      key=lambda f: f[0])]


def documented_commands(root: str = ROOT) -> list[Command]:
  """Every `python -m experiments.*` command of README.md and docs/**/*.md.

  Args:
    root: the repository root.

  Returns:
    The commands, file by file, in line order.
  """
  return [c for path in documents(root) for c in commands_in(path, root)]
