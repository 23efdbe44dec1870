"""Sphinx configuration: MyST Markdown pages, API pages from the docstrings,
executed notebook pages (myst-nb), the book theme of the JAX documentation.

  python -m sphinx -W -b html docs docs/_build/html
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# Notebook pages compile their programs once: the same persistent cache as the tests.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(ROOT, ".pytest_cache", "jax_compilation"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# The notebook kernels import the project (and docs.config_reference) from the root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)

project = "lstm_init"
author = "lstm_init authors"
copyright = "lstm_init authors"  # pylint: disable=redefined-builtin

extensions = [
    "myst_nb",                  # MyST Markdown and executed notebook pages
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",      # Google-style Args:/Returns:
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "figures"]

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3          # [text](page.md#a-heading) links
suppress_warnings = ["myst.header"]  # headings that skip a level inside table blocks

# Notebook pages run at every build, in a fresh kernel, from the repository
# root (their paths are the command line's).
nb_execution_mode = os.environ.get("LSTM_INIT_DOCS_EXECUTE", "force")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_in_temp = False
nb_execution_allow_errors = False

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "sphinx_book_theme"
html_title = "lstm_init"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
}
html_static_path = []


# --------------------------------------------------------------------------
# The docstrings are written for people reading the code (Google style, with
# Markdown's backticks and indented examples); napoleon turns their Args: and
# Returns: into fields, and this turns the rest into valid reStructuredText.

_FIELD_OR_LIST = re.compile(r"^\s*(:|\.\. |[-*+] |\d+[.)] |>>>)")
_LITERAL = re.compile(r"(``[^`]+``|`[^`]+`)")


def _indent(line: str) -> int:
  return len(line) - len(line.lstrip())


def _inline(text: str) -> str:
  """Backticks become literals; a bare `*` or `|` is escaped."""
  parts = _LITERAL.split(text)
  out = []
  for i, part in enumerate(parts):
    if i % 2:  # a literal
      inner = part.strip("`")
      out.append(f"``{inner}``" if inner.strip() else part)
    else:
      out.append(re.sub(r"(?<!\\)([*|])", r"\\\1", part))
  return "".join(out)


def rst_docstring(lines: list[str]) -> list[str]:
  """A docstring (after napoleon) as valid reStructuredText.

  An indented block that does not continue a field, a list item or a
  directive becomes a literal block (usage examples, tables of names);
  backticks become inline literals; `*` and `|` outside them are escaped.

  Args:
    lines: the docstring's lines.

  Returns:
    The new lines.
  """
  out: list[str] = []
  literal_base = None  # indent of the line that introduced the literal block
  prev = None          # the previous non-blank line
  for line in lines:
    if not line.strip():
      out.append(line)
      continue
    indent = _indent(line)
    if literal_base is not None:
      if indent > literal_base:
        out.append(line)
        prev = line
        continue
      literal_base = None
      if out and out[-1].strip():
        out.append("")
    if prev is not None and indent > _indent(prev) and not _FIELD_OR_LIST.match(prev) \
        and not prev.rstrip().endswith("::"):
      literal_base = _indent(prev)
      if out and out[-1].strip():
        out.append("")
      out += [" " * literal_base + "::", ""]
      out.append(line)
      prev = line
      continue
    if prev is not None and indent < _indent(prev) and out and out[-1].strip() \
        and not _FIELD_OR_LIST.match(line):
      pass
    out.append(_inline(line) if not line.lstrip().startswith(("..", ":")) else
               line[:indent] + _field(line[indent:]))
    prev = line
  return out


def _field(text: str) -> str:
  """A field or directive line: the text after its name is inline text."""
  match = re.match(r"^(:[^:]*:\s?)(.*)$", text)
  if match:
    return match.group(1) + _inline(match.group(2))
  return text


def double_backticks(lines: list[str]) -> list[str]:
  """`x` -> ``x`` (so that napoleon splits no field inside a literal)."""
  return [re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", line) for line in lines]


def _literals_first(app, what, name, obj, options, lines):
  del app, what, name, obj, options
  lines[:] = double_backticks(lines)


def _process_docstring(app, what, name, obj, options, lines):
  del app, what, name, obj, options
  lines[:] = rst_docstring(lines)


def setup(app):
  # before napoleon (priority 500), and after it, once Args: are fields
  app.connect("autodoc-process-docstring", _literals_first, priority=400)
  app.connect("autodoc-process-docstring", _process_docstring, priority=600)
