"""Reports from one or more sweep workdirs: tables, figures, Markdown and HTML.

Usage:

  write_report(["runs/a", "runs/b"], out_dir="runs/a")
  # or: python -m experiments.report runs/a runs/b

Reads each workdir with `report.results.load_results` and writes `report.md`, a
self-contained `report.html` (figures embedded), `table.tex` (LaTeX booktabs)
and `figures/*.png|pdf` (`lstm_init.report.figures`; tables in `lstm_init.report.tables`).
"""

from __future__ import annotations

import base64
import html
import math
import os
from typing import Any, Sequence

import numpy as np

from lstm_init import records
from lstm_init.report import figures, tables
from lstm_init.errors import ConfigError
from lstm_init.report.figures import finite_ok
from lstm_init.report.results import SweepResults, load_results
from lstm_init.report.tables import fmt


def merge(runs: list[SweepResults]) -> dict[str, Any]:
  """Conditions of several workdirs side by side (names made unique)."""
  m: dict[str, list] = {k: [] for k in ("conditions", "final", "test", "metric", "diverged",
                                        "curves", "per_timestep", "steps", "early", "late",
                                        "baselines", "summaries")}
  multi = len(runs) > 1
  directions = {bool(run.summary.get("lower_is_better", True)) for run in runs}
  if len(directions) > 1:
    raise ConfigError("these workdirs score in different directions (losses, lower is better, "
                      "and returns, higher is better) and cannot be ranked together; valid "
                      "choices: workdirs that all score losses or all score returns")
  for run in runs:
    tag = os.path.basename(os.path.normpath(run.workdir))
    for ci, name in enumerate(run.conditions):
      m["conditions"].append(f"{tag}:{name}" if multi else name)
      for key, column in (("final", "final_eval_loss"), ("test", "final_test_loss"),
                          ("metric", "final_eval_metric"), ("diverged", "diverged"),
                          ("early", "early_eval_loss"), ("late", "late_eval_loss")):
        m[key].append(run.column(name, column))
      m["curves"].append(run.curves["eval_loss"][ci])
      m["per_timestep"].append(run.curves["per_timestep_loss"][ci])
      own = run.summary["conditions"][name]
      st = run.curves["steps"][ci]  # -1 pads evaluations a run did not have
      m["steps"].append(np.where(st >= 0, st * int(own.get("steps_per_update", 1)), st))
      m["summaries"].append(own)
      baseline = own.get("baseline", run.summary["baseline"])
      m["baselines"].append(np.nan if baseline is None else float(baseline))
  first = runs[0].summary
  shared = len(set(m["baselines"])) == 1
  return {**m, "first_k": int(first.get("first_k", 1)), "metric_name": first["metric"],
          "higher": not first.get("lower_is_better", True),
          "score": first.get("score", "final validation loss"),
          "step_unit": first.get("step_unit", "training step"),
          "baseline": m["baselines"][0] if shared else None,
          "baseline_note": first["baseline_note"] if shared else "per condition",
          "task": "; ".join(dict.fromkeys(run.summary["task"] for run in runs)),
          "seed": int(runs[0].record["config"].get("seed", 0)),
          "curve_rows": sorted({int(r) for run in runs
                                for r in run.curves.get("curve_rows", [0])})}


READING_GUIDE = (
    "How to read this report. Each dot in the distribution is one seed: the spread is what "
    "luck alone does to this configuration. The 95% interval is a bootstrap interval of the "
    "mean over seeds; two conditions whose intervals overlap heavily are not distinguished "
    "by this many seeds. The IQM (interquartile mean) and its stratified bootstrap interval "
    "are the robust aggregate of Agarwal et al. (2021). P(A better than B) is the chance "
    "that a seed of one condition beats a "
    "seed of the other (0.5 = no difference). The expected best of k shows how much of a "
    "'best seed' is just having tried more seeds: if the curve keeps improving with k, the "
    "best of many seeds is an optimistic, selected number, not a property of the method. "
    "Diverged seeds (NaN or exploding loss) are counted, not averaged.")


def write_report(workdirs: Sequence[str], out_dir: str | None = None) -> dict[str, str]:
  """Builds report.md, report.html, table.tex and figures into `out_dir`.

  Args:
    workdirs: sweep folders (each with results.csv, summary.json, curves.npz).
    out_dir: where to write; default the first workdir.

  Returns:
    Paths of the written files.
  """
  out_dir = out_dir or workdirs[0]
  runs = [load_results(w) for w in workdirs]
  m = merge(runs)
  rows = tables.summary_rows(m)
  grid = tables.two_axis_grid(m)
  figs = {name: getattr(figures, f"fig_{name}")(m, out_dir)
          for name in ("distribution", "ecdf", "per_timestep", "best_of_k")}
  figs["curves"] = figures.fig_curves(m, out_dir, grid)
  matrices = tables.improvement_matrix(m) if len(m["conditions"]) > 1 else None
  if matrices is not None:
    figs["improvement"] = figures.fig_improvement(m, out_dir, matrices)
  records.atomic_write_bytes(os.path.join(out_dir, "table.tex"),
                             tables.latex_table(rows, m["metric_name"]).encode())
  pairs = tables.pairwise(m)
  failing = any(r["failed"] is not None for r in rows)
  reaching = any(r["reached"] is not None for r in rows)
  targets = {r["target"] for r in rows if r["reached"] is not None}
  target = f"{next(iter(targets)):g}" if len(targets) == 1 else "its target"
  # Tasks scored at every position of a window: the loss just after a reset apart.
  positional = any(r["early"] is not None and np.isfinite(r["early"]) and r["late"] is not None
                   and np.isfinite(r["late"]) for r in rows)
  head = tables.SUMMARY_HEAD + [f"median {m['metric_name']}"] + (
      ["failed to learn"] if failing else []) + (
      [f"reached {target}", f"median {m['step_unit']} to {target}"] if reaching else []) + (
      [f"median loss, first {m['first_k']} positions", "median loss, other positions"]
      if positional else [])

  def to_target(r):
    if r["reached"] is None:
      return ["n/a", "n/a"]
    took = r["to_target"]
    took = fmt(took) if took is not None and np.isfinite(took) else "not by most"
    own = f" ({r['target']:g})" if len(targets) > 1 else ""
    return [f"{r['reached']}/{r['n']}{own}", took]

  table = [tables.summary_cells(r)
           + ([str(r["failed"]) if r["failed"] is not None else "n/a"] if failing else [])
           + (to_target(r) if reaching else [])
           + ([fmt(r["early"]), fmt(r["late"])] if positional else []) for r in rows]
  pair_head = ["A", "B", "mean A - B [95% CI]", "P(A better than B) [95% CI]", "Welch p",
               "Mann-Whitney p", "Hedges g"]
  pair_rows = [[p["a"], p["b"], f"{fmt(p['mean_diff'])} [{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]",
                f"{p['p_improvement']:.2f} [{p['p_low']:.2f}, {p['p_high']:.2f}]",
                fmt(p["welch_p"], 3), fmt(p["mannwhitney_p"], 3), fmt(p["hedges_g"], 3)]
               for p in pairs]
  env = runs[0].environment
  blocks: list[tuple[str, Any]] = [
      ("h1", "lstm_init report"),
      ("p", f"Task: {m['task']}. Seeds per condition: {', '.join(str(len(x)) for x in m['final'])}."
            + (f" No-learning baseline: {m['baseline']:.4g} ({m['baseline_note']})."
               if m["baseline"] is not None and np.isfinite(m["baseline"]) else
               " No-learning baseline per condition: "
               + ", ".join(f"{n} {b:.4g}" for n, b in zip(m["conditions"], m["baselines"]))
               + "." if np.isfinite(m["baselines"]).any() else "")
            + (" Failed to learn: a final score " + ("below" if m["higher"] else "above") + " "
               + ", ".join(sorted({f"{r['failure_line']:g}" for r in rows
                                   if r["failure_line"] is not None})) + "." if failing
               else "")),
      ("p", f"Sources: {', '.join(workdirs)}. JAX {env.get('versions', {}).get('jax', '?')} on "
            f"{env.get('backend', '?')} ({env.get('device_count', '?')} device(s))."),
      ("h2", m["score"].capitalize() + (" (higher is better)" if m["higher"] else "")),
      ("table", (head, table)),
      ("p", "The same table in LaTeX (booktabs): table.tex."),
      ("p", READING_GUIDE),
      ("h2", "Every seed"), ("fig", figs["distribution"]),
      ("h2", "Performance profiles"), ("fig", figs["ecdf"]),
      ("h2", "Learning curves"), ("fig", figs["curves"]),
  ]
  if figs["per_timestep"]:
    k = m["first_k"]
    el_head = ["condition", f"first {k} positions: median [q25, q75]",
               "other positions: median [q25, q75]", "first / other"]
    el_rows = []
    for name, e, l, div in zip(m["conditions"], m["early"], m["late"], m["diverged"]):
      e, l = finite_ok(e, div), finite_ok(l, div)
      if e.size and l.size:
        q = lambda a: f"{fmt(np.median(a))} [{fmt(np.quantile(a, .25))}, {fmt(np.quantile(a, .75))}]"
        el_rows.append([name, q(e), q(l), fmt(np.median(e) / np.median(l), 3)])
    blocks += [("h2", "Loss per position in the window"), ("fig", figs["per_timestep"]),
               ("p", f"Validation loss over the first {k} positions of each window (right "
                     "after a reset, or after the carried state) against the other positions:"),
               ("table", (el_head, el_rows))]
  if grid is not None:
    (row_axis, _), (col_axis, _) = grid["rows"], grid["cols"]
    blocks += [("h2", f"{m['metric_name'].capitalize()} by {row_axis} and {col_axis}"),
               ("p", f"Median {m['metric_name']} over seeds [25%, 75%] in each cell."),
               ("table", tables.grid_table(m, grid)),
               ("fig", figures.fig_grid(m, out_dir, grid))]
  blocks += [("h2", "Expected best of k seeds"), ("fig", figs["best_of_k"])]
  comps = [(name, c["variance_components"]) for run in runs
           for name, c in run.summary["conditions"].items()
           if c.get("variance_components")]
  if comps:
    vc_head = ["condition", "init share [95% CI]", "data-order share [95% CI]",
               "interaction + residual [95% CI]", "total variance"]
    vc_rows = [[name] + [f"{v[s]:.2f} [{v[s + '_low']:.2f}, {v[s + '_high']:.2f}]"
                         for s in ("init", "data", "residual")]
               + [fmt(v["var_init"] + v["var_data"] + v["var_residual"], 3)]
               for name, v in comps]
    blocks += [("h2", "Where the variance comes from"),
               ("p", "A crossed grid of initialization seeds by data-order seeds, split by a "
                     "two-way random-effects ANOVA into the share due to the initialization, "
                     "to the data order, and to their interaction (with bootstrap intervals "
                     "resampling both seed sets)."),
               ("table", (vc_head, vc_rows))]
  inst = [(name, c["instability"]) for run in runs
          for name, c in run.summary["conditions"].items() if c.get("instability")]
  if inst:
    ci = lambda v, s: (f"{v[s]:.2f} [{v[s + '_low']:.2f}, {v[s + '_high']:.2f}]"
                       if s in v else "n/a (one base seed, or no spread)")
    in_head = ["condition", "base seeds x runs", "std, one-bit flips",
               "std, base seeds", "instability share [95% CI]", "seed share [95% CI]"]
    in_rows = [[name, f"{v['base_seeds']} x {v['perturbations']}",
                fmt(v["std_instability"], 3),
                fmt(math.sqrt(v["var_seed"]), 3) if "var_seed" in v else "n/a",
                ci(v, "instability"), ci(v, "seed")] for name, v in inst]
    blocks += [("h2", "Numerical instability: one bit against a seed"),
               ("p", "Every run of a base seed shares all its random streams; each run but "
                     "the first flips the lowest bit of one initial parameter. A one-way "
                     "random-effects ANOVA splits the variance of the final validation loss "
                     "into the share the base seed decides (initialization and data order) "
                     "and the share a one-ulp change moves (instability), with bootstrap "
                     "intervals resampling base seeds."),
               ("table", (in_head, in_rows))]
  if matrices is not None:
    blocks += [("h2", "Pairwise comparisons"), ("table", (pair_head, pair_rows)),
               ("fig", figs["improvement"])]
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
  paths = {"report_md": os.path.join(out_dir, "report.md"),
           "report_html": os.path.join(out_dir, "report.html"),
           "table_tex": os.path.join(out_dir, "table.tex")}
  records.atomic_write_bytes(paths["report_md"], ("\n\n".join(md) + "\n").encode())
  style = ("body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:"
           "collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}")
  page = (f"<!doctype html><html><head><meta charset='utf-8'><title>lstm_init report</title>"
          f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
  records.atomic_write_bytes(paths["report_html"], page.encode())
  return paths
