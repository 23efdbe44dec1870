"""Reports from one or more sweep workdirs: tables, figures, Markdown and HTML.

Usage:

  write_report(["runs/a", "runs/b"], out_dir="runs/a")
  # or: python -m experiments.report runs/a runs/b

Reads each workdir with `report.results.load_results`, lines their conditions
up (`report.merged.merge`), builds each section (`report.sections`) and
writes `report.md`, a self-contained `report.html` (figures embedded),
`table.tex` (LaTeX booktabs) and `figures/*.png|pdf` (`report.figures`).
"""

from __future__ import annotations

import base64
import html
import os
from typing import Sequence

from lstm_init import records
from lstm_init.errors import ConfigError
from lstm_init.report import sections, tables
from lstm_init.report.merged import Merged, merge
from lstm_init.report.results import load_results
from lstm_init.report.sections import Block

STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:"
         "collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}")


def build(m: Merged, workdirs: Sequence[str], environment: dict, out_dir: str) -> list[Block]:
  """Every section of the report, in order (figures are written into `out_dir`)."""
  grid = tables.two_axis_grid(m)
  return (sections.header(m, workdirs, environment) + sections.summary(m)
          + sections.every_seed(m, out_dir, grid) + sections.per_position(m, out_dir)
          + sections.grid_of_two_axes(m, out_dir, grid) + sections.best_of_k(m, out_dir)
          + sections.variance_components(m) + sections.instability(m)
          + sections.pairwise(m, out_dir))


def render(blocks: Sequence[Block], out_dir: str) -> tuple[str, str]:
  """The blocks as Markdown and as one self-contained HTML page (figures inlined)."""
  md, body = [], []
  for kind, content in blocks:
    if kind in ("h1", "h2"):
      md.append(("# " if kind == "h1" else "## ") + content)
      body.append(f"<{kind}>{html.escape(content)}</{kind}>")
    elif kind == "p":
      md.append(content)
      body.append(f"<p>{html.escape(content)}</p>")
    elif kind == "table":
      md.append(tables.md_table(*content))
      body.append(tables.html_table(*content))
    elif kind == "fig":
      md.append(f"![{os.path.basename(content)}]({content})")
      with open(os.path.join(out_dir, content), "rb") as f:
        data = base64.b64encode(f.read()).decode()
      body.append(f'<p><img src="data:image/png;base64,{data}" style="max-width:100%"></p>')
    else:
      raise ValueError(f"unknown block kind {kind!r}")
  page = (f"<!doctype html><html><head><meta charset='utf-8'><title>lstm_init report</title>"
          f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
  return "\n\n".join(md) + "\n", page


def write_report(workdirs: Sequence[str], out_dir: str | None = None) -> dict[str, str]:
  """Builds report.md, report.html, table.tex and figures into `out_dir`.

  Args:
    workdirs: sweep folders (each with results.csv, summary.json, curves.npz).
    out_dir: where to write; default the first workdir.

  Returns:
    Paths of the written files: {"report_md", "report_html", "table_tex"}.

  Raises:
    ConfigError: (one line) for a folder that is not a finished sweep, or
      workdirs that score in different directions.
  """
  out_dir = out_dir or workdirs[0]
  runs = [load_results(w) for w in workdirs]
  m = merge(runs)
  out_folder(out_dir)
  paths = {"report_md": os.path.join(out_dir, "report.md"),
           "report_html": os.path.join(out_dir, "report.html"),
           "table_tex": os.path.join(out_dir, "table.tex")}
  try:
    records.atomic_write_bytes(paths["table_tex"], tables.latex_table(m).encode())
    md, page = render(build(m, workdirs, runs[0].environment, out_dir), out_dir)
    records.atomic_write_bytes(paths["report_md"], md.encode())
    records.atomic_write_bytes(paths["report_html"], page.encode())
  except OSError as e:
    raise ConfigError(f"cannot write the report into {out_dir}: {e.strerror or e} (errno "
                      f"{e.errno}, {e.filename or out_dir}); the files written before are "
                      "intact; free space or choose a writable --out") from None
  return paths


def out_folder(path: str) -> str:
  """The folder a report goes into, created if missing.

  Args:
    path: the folder (`--out`, or the first workdir).

  Returns:
    `path`.

  Raises:
    ConfigError: (one line) when `path` is a file, or cannot be created (a
      name too long, a read-only file system, no permission).
  """
  if os.path.exists(path) and not os.path.isdir(path):
    raise ConfigError(f"--out {path!r} is a file, not a folder; valid: a folder (created if "
                      "missing)")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise ConfigError(f"--out {path!r} cannot be created: {e.strerror or e} (errno {e.errno}); "
                      "valid: a writable folder") from None
  return path
