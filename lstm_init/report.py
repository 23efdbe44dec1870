"""Reports from one or more sweep workdirs: tables, figures, Markdown and HTML.

Usage:

  write_report(["runs/a", "runs/b"], out_dir="runs/a")
  # or: python -m experiments.report runs/a runs/b

Writes `report.md`, a self-contained `report.html` (figures embedded),
`table.tex` (LaTeX booktabs) and `figures/*.png|pdf`:
  distribution   final validation loss per condition, every seed a dot
  ecdf           empirical CDFs (performance profiles) of the final loss
  curves         validation loss over training: median and 25-75% / 10-90% bands
  per_timestep   loss at each position of a window (when the task has one)
  best_of_k      expected best final loss among k seeds (Dodge et al. 2019)
  improvement    matrix of P(row < column) with bootstrap intervals
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from typing import Any, Sequence

import numpy as np

from lstm_init import records, stats

FIGURE_FORMATS = ("png", "pdf")


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def load_workdir(workdir: str) -> dict[str, Any]:
  """Reads the files a sweep wrote."""
  out = {"workdir": workdir}
  out["rows"] = records.read_csv(os.path.join(workdir, "results.csv"))
  with open(os.path.join(workdir, "summary.json")) as f:
    out["summary"] = json.load(f)
  with open(os.path.join(workdir, "config.json")) as f:
    out["config"] = json.load(f)
  env = os.path.join(workdir, "environment.json")
  out["environment"] = json.load(open(env)) if os.path.exists(env) else {}
  with np.load(os.path.join(workdir, "curves.npz")) as z:
    out["curves"] = {k: z[k] for k in z.files}
  return out


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
  """Conditions of several workdirs side by side (names made unique)."""
  conditions, finals, tests, metrics, diverged, curves, per_t, steps = [], [], [], [], [], [], [], []
  early, late, baselines = [], [], []
  multi = len(runs) > 1
  for run in runs:
    tag = os.path.basename(os.path.normpath(run["workdir"]))
    names = [str(n) for n in run["curves"]["conditions"]]
    for ci, name in enumerate(names):
      mine = [r for r in run["rows"] if r["condition"] == name]
      conditions.append(f"{tag}:{name}" if multi else name)
      finals.append(np.array([float(r["final_eval_loss"]) for r in mine]))
      tests.append(np.array([float(r["final_test_loss"]) for r in mine]))
      metrics.append(np.array([float(r["final_eval_metric"]) for r in mine]))
      diverged.append(np.array([r["diverged"] in ("True", "true", "1") for r in mine]))
      early.append(np.array([float(r.get("early_eval_loss", "nan")) for r in mine]))
      late.append(np.array([float(r.get("late_eval_loss", "nan")) for r in mine]))
      curves.append(run["curves"]["eval_loss"][ci])
      per_t.append(run["curves"]["per_timestep_loss"][ci])
      steps.append(run["curves"]["steps"][ci])
      own = run["summary"]["conditions"].get(name, {})
      baselines.append(float(own.get("baseline", run["summary"]["baseline"])))
  first = runs[0]["summary"]
  shared = len(set(baselines)) == 1
  return {"conditions": conditions, "final": finals, "test": tests, "metric": metrics,
          "diverged": diverged, "curves": curves, "per_timestep": per_t, "steps": steps,
          "early": early, "late": late, "first_k": int(first.get("first_k", 1)),
          "metric_name": first["metric"], "baselines": baselines,
          "baseline": baselines[0] if shared else None,
          "baseline_note": first["baseline_note"] if shared else "per condition",
          "task": first["task"],
          "seed": int(runs[0]["config"]["config"].get("seed", 0)),
          "curve_rows": sorted({int(r) for run in runs
                                for r in run["curves"].get("curve_rows", [0])})}


def _ok(x, div):
  return x[(~div) & np.isfinite(x)]


# ---------------------------------------------------------------------------
# Tables.


def summary_rows(m: dict[str, Any]) -> list[dict[str, Any]]:
  rows = []
  for name, x, div, met in zip(m["conditions"], m["final"], m["diverged"], m["metric"]):
    ok = _ok(x, div)
    d = stats.describe(ok)
    lo, hi = stats.bootstrap_ci(ok, key_or_seed=m["seed"]) if ok.size else (math.nan,) * 2
    fail = stats.failure_rate(int(div.sum()), len(x))
    rows.append({"condition": name, "n": len(x), "diverged": int(div.sum()),
                 "fail_low": fail["low"], "fail_high": fail["high"],
                 "mean": d.get("mean", math.nan), "ci_low": lo, "ci_high": hi,
                 "median": d.get("median", math.nan), "iqm": d.get("iqm", math.nan),
                 "std": d.get("std", math.nan), "min": d.get("min", math.nan),
                 "max": d.get("max", math.nan),
                 "metric": float(np.median(_ok(met, div))) if ok.size else math.nan})
  return rows


def _g(v, digits=4):
  return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


SUMMARY_HEAD = ["condition", "n", "diverged (95% CI of rate)", "mean [95% CI]", "median", "IQM",
                "std", "min", "max"]


def _summary_cells(r):
  return [r["condition"], str(r["n"]),
          f"{r['diverged']} [{r['fail_low']:.2f}, {r['fail_high']:.2f}]",
          f"{_g(r['mean'])} [{_g(r['ci_low'])}, {_g(r['ci_high'])}]", _g(r["median"]),
          _g(r["iqm"]), _g(r["std"], 3), _g(r["min"]), _g(r["max"]), _g(r["metric"])]


def latex_table(rows, metric_name: str) -> str:
  """A booktabs table of the summary (needs \\usepackage{booktabs})."""
  esc = lambda s: str(s).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
  head = ["Condition", "$n$", "Diverged", "Mean [95\\% CI]", "Median", "IQM", "Std",
          f"Median {esc(metric_name)}"]
  lines = [r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule",
           " & ".join(head) + r" \\", r"\midrule"]
  for r in rows:
    lines.append(" & ".join([esc(r["condition"]), str(r["n"]), str(r["diverged"]),
                             f"{_g(r['mean'])} [{_g(r['ci_low'])}, {_g(r['ci_high'])}]",
                             _g(r["median"]), _g(r["iqm"]), _g(r["std"], 3),
                             _g(r["metric"])]) + r" \\")
  lines += [r"\bottomrule", r"\end{tabular}"]
  return "\n".join(lines) + "\n"


def pairwise(m: dict[str, Any]) -> list[dict[str, Any]]:
  """Every pair of conditions compared on the final validation loss."""
  out = []
  n = len(m["conditions"])
  for i in range(n):
    for j in range(i + 1, n):
      a, b = _ok(m["final"][i], m["diverged"][i]), _ok(m["final"][j], m["diverged"][j])
      if a.size < 2 or b.size < 2:
        continue
      c = stats.compare(a, b, key_or_seed=m["seed"])
      c["p_low"], c["p_high"] = stats.probability_of_improvement_ci(a, b, key_or_seed=m["seed"])
      out.append({"a": m["conditions"][i], "b": m["conditions"][j], **c})
  return out


# ---------------------------------------------------------------------------
# Figures.


def _save(fig, out_dir: str, name: str) -> str:
  os.makedirs(os.path.join(out_dir, "figures"), exist_ok=True)
  for fmt in FIGURE_FORMATS:
    fig.savefig(os.path.join(out_dir, "figures", f"{name}.{fmt}"), dpi=130,
                bbox_inches="tight")
  _plt().close(fig)
  return os.path.join("figures", f"{name}.png")


def _colors(n):
  cmap = _plt().get_cmap("tab10" if n <= 10 else "tab20")
  return [cmap(i % cmap.N) for i in range(n)]


def _log_if_wide(ax, values):
  """A log axis when positive values span more than a factor of 20."""
  v = values[np.isfinite(values)]
  if v.size and v.min() > 0 and v.max() / v.min() > 20:
    ax.set_yscale("log")


def _draw_baselines(ax, m, vertical=False, label="no-learning baseline"):
  """The no-learning baseline: one grey line, or one per condition in its colour
  when the conditions' tasks differ."""
  line = ax.axvline if vertical else ax.axhline
  if m["baseline"] is not None:
    line(m["baseline"], ls="--", color="grey", lw=1, label=label)
    return
  for i, (b, col) in enumerate(zip(m["baselines"], _colors(len(m["conditions"])))):
    line(b, ls="--", color=col, lw=1, label=f"{label} (per condition)" if label and i == 0
         else None)


def fig_distribution(m, out_dir):
  plt = _plt()
  n = len(m["conditions"])
  fig, ax = plt.subplots(figsize=(max(5, 1.2 * n + 2), 4))
  rng = np.random.default_rng(0)  # horizontal jitter of the dots only
  for i, (x, div, col) in enumerate(zip(m["final"], m["diverged"], _colors(n))):
    ok = _ok(x, div)
    if ok.size:
      ax.boxplot([ok], positions=[i], widths=0.5, showfliers=False,
                 medianprops={"color": "k"})
      ax.scatter(i + rng.uniform(-0.18, 0.18, ok.size), ok, s=12, color=col, alpha=0.8,
                 zorder=3)
    if div.any():
      ax.scatter([i] * int(div.sum()), [ax.get_ylim()[1]] * int(div.sum()), marker="x",
                 color="r", label="diverged" if i == 0 else None)
  _draw_baselines(ax, m)
  _log_if_wide(ax, np.concatenate([_ok(x, d) for x, d in zip(m["final"], m["diverged"])]
                                  + [np.array(m["baselines"])]))
  ax.set_xticks(range(n), m["conditions"], rotation=30, ha="right")
  ax.set_ylabel("final validation loss")
  ax.set_title("Final loss per seed (box: quartiles)")
  ax.legend(loc="best", fontsize=8)
  return _save(fig, out_dir, "distribution")


def fig_ecdf(m, out_dir):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, x, div, col in zip(m["conditions"], m["final"], m["diverged"],
                               _colors(len(m["conditions"]))):
    ok = np.sort(_ok(x, div))
    if ok.size:
      ax.step(ok, np.arange(1, ok.size + 1) / len(x), where="post", label=name, color=col)
  _draw_baselines(ax, m, vertical=True, label=None)
  ax.set_xlabel("final validation loss")
  ax.set_ylabel("fraction of seeds with loss <= x")
  ax.set_title("Performance profile (empirical CDF)")
  ax.legend(fontsize=8)
  return _save(fig, out_dir, "ecdf")


def _band_plot(ax, xs, curves, label, col):
  with np.errstate(all="ignore"):
    import warnings
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)
      med = np.nanmedian(curves, axis=0)
      q = np.nanquantile(curves, [0.1, 0.25, 0.75, 0.9], axis=0)
  ax.plot(xs, med, color=col, label=label)
  ax.fill_between(xs, q[1], q[2], color=col, alpha=0.25, lw=0)
  ax.fill_between(xs, q[0], q[3], color=col, alpha=0.1, lw=0)


def fig_curves(m, out_dir):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for name, c, st, col in zip(m["conditions"], m["curves"], m["steps"],
                              _colors(len(m["conditions"]))):
    e = int((st >= 0).sum())
    _band_plot(ax, st[:e], c[:, :e], name, col)
  _draw_baselines(ax, m, label="baseline")
  rows = m.get("curve_rows", [0])
  ax.set_xlabel("training step")
  ax.set_ylabel("validation loss" + (f" (first {rows[0]} validation rows)"
                                     if len(rows) == 1 and rows[0] > 0 else ""))
  ax.set_yscale("log")
  ax.set_title("Learning curves: median, 25-75% and 10-90% of seeds")
  ax.legend(fontsize=8)
  return _save(fig, out_dir, "curves")


def fig_per_timestep(m, out_dir):
  pts = [p for p in m["per_timestep"] if np.isfinite(p).sum(axis=-1).max(initial=0) > 1]
  if not pts:
    return None
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6.5, 4))
  for name, p, col in zip(m["conditions"], m["per_timestep"], _colors(len(m["conditions"]))):
    if np.isfinite(p).sum(axis=-1).max(initial=0) > 1:
      _band_plot(ax, np.arange(p.shape[-1]), p, name, col)
  _draw_baselines(ax, m, label="baseline")
  ax.set_xlabel("position within the window")
  ax.set_ylabel("validation loss at that position")
  ax.set_title("Loss per timestep (median and bands over seeds)")
  ax.legend(fontsize=8)
  return _save(fig, out_dir, "per_timestep")


def fig_best_of_k(m, out_dir):
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, x, div, col in zip(m["conditions"], m["final"], m["diverged"],
                               _colors(len(m["conditions"]))):
    ok = _ok(x, div)
    if ok.size:
      ks = np.arange(1, len(x) + 1)
      ax.plot(ks, stats.expected_best_of_k(ok, ks), label=name, color=col)
  ax.set_xscale("log")
  ax.set_xlabel("k (seeds tried)")
  ax.set_ylabel("expected best final loss among k")
  ax.set_title("Expected best of k (Dodge et al. 2019)")
  ax.legend(fontsize=8)
  return _save(fig, out_dir, "best_of_k")


def improvement_matrix(m):
  n = len(m["conditions"])
  mat, lo, hi = (np.full((n, n), np.nan) for _ in range(3))
  for i in range(n):
    for j in range(n):
      a, b = _ok(m["final"][i], m["diverged"][i]), _ok(m["final"][j], m["diverged"][j])
      if i != j and a.size and b.size:
        mat[i, j] = stats.probability_of_improvement(a, b)
        lo[i, j], hi[i, j] = stats.probability_of_improvement_ci(a, b, key_or_seed=m["seed"],
                                                                 n_resamples=500)
  return mat, lo, hi


def fig_improvement(m, out_dir, matrices):
  plt = _plt()
  mat, lo, hi = matrices
  n = len(m["conditions"])
  fig, ax = plt.subplots(figsize=(1.3 * n + 3, 1.1 * n + 2))
  im = ax.imshow(mat, vmin=0, vmax=1, cmap="RdBu_r")
  for i in range(n):
    for j in range(n):
      if i != j and np.isfinite(mat[i, j]):
        ax.text(j, i, f"{mat[i, j]:.2f}\n[{lo[i, j]:.2f}, {hi[i, j]:.2f}]", ha="center",
                va="center", fontsize=7)
  ax.set_xticks(range(n), m["conditions"], rotation=30, ha="right")
  ax.set_yticks(range(n), m["conditions"])
  ax.set_title("P(row seed has lower loss than column seed)")
  fig.colorbar(im, ax=ax, shrink=0.8)
  return _save(fig, out_dir, "improvement")


# ---------------------------------------------------------------------------
# Documents.


def _md_table(head, rows):
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines)


def _html_table(head, rows):
  h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                 for r in rows)
  return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


READING_GUIDE = (
    "How to read this report. Each dot in the distribution is one seed: the spread is what "
    "luck alone does to this configuration. The 95% interval is a bootstrap interval of the "
    "mean over seeds; two conditions whose intervals overlap heavily are not distinguished "
    "by this many seeds. P(row < column) is the chance that a seed of one condition beats a "
    "seed of the other (0.5 = no difference). The expected best of k shows how much of a "
    "'best seed' is just having tried more seeds: if the curve keeps falling with k, the "
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
  runs = [load_workdir(w) for w in workdirs]
  m = merge(runs)
  rows = summary_rows(m)
  figures = {"distribution": fig_distribution(m, out_dir), "ecdf": fig_ecdf(m, out_dir),
             "curves": fig_curves(m, out_dir), "per_timestep": fig_per_timestep(m, out_dir),
             "best_of_k": fig_best_of_k(m, out_dir)}
  matrices = improvement_matrix(m) if len(m["conditions"]) > 1 else None
  if matrices is not None:
    figures["improvement"] = fig_improvement(m, out_dir, matrices)
  records.atomic_write_bytes(os.path.join(out_dir, "table.tex"),
                             latex_table(rows, m["metric_name"]).encode())
  pairs = pairwise(m)
  head = SUMMARY_HEAD + [f"median {m['metric_name']}"]
  table = [_summary_cells(r) for r in rows]
  pair_head = ["A", "B", "mean A - B [95% CI]", "P(A < B) [95% CI]", "Welch p",
               "Mann-Whitney p", "Hedges g"]
  pair_rows = [[p["a"], p["b"], f"{_g(p['mean_diff'])} [{_g(p['ci_low'])}, {_g(p['ci_high'])}]",
                f"{p['p_improvement']:.2f} [{p['p_low']:.2f}, {p['p_high']:.2f}]",
                _g(p["welch_p"], 3), _g(p["mannwhitney_p"], 3), _g(p["hedges_g"], 3)]
               for p in pairs]
  env = runs[0]["environment"]
  blocks: list[tuple[str, Any]] = [
      ("h1", "lstm_init report"),
      ("p", f"Task: {m['task']}. Seeds per condition: {', '.join(str(len(x)) for x in m['final'])}."
            + (f" No-learning baseline: {m['baseline']:.4g} ({m['baseline_note']})."
               if m["baseline"] is not None else " No-learning baseline per condition: "
               + ", ".join(f"{n} {b:.4g}" for n, b in zip(m["conditions"], m["baselines"]))
               + ".")),
      ("p", f"Sources: {', '.join(workdirs)}. JAX {env.get('versions', {}).get('jax', '?')} on "
            f"{env.get('backend', '?')} ({env.get('device_count', '?')} device(s))."),
      ("h2", "Final validation loss"),
      ("table", (head, table)),
      ("p", "The same table in LaTeX (booktabs): table.tex."),
      ("p", READING_GUIDE),
      ("h2", "Every seed"), ("fig", figures["distribution"]),
      ("h2", "Performance profiles"), ("fig", figures["ecdf"]),
      ("h2", "Learning curves"), ("fig", figures["curves"]),
  ]
  if figures["per_timestep"]:
    k = m["first_k"]
    el_head = ["condition", f"first {k} positions: median [q25, q75]",
               "other positions: median [q25, q75]", "first / other"]
    el_rows = []
    for name, e, l, div in zip(m["conditions"], m["early"], m["late"], m["diverged"]):
      e, l = _ok(e, div), _ok(l, div)
      if e.size and l.size:
        q = lambda a: f"{_g(np.median(a))} [{_g(np.quantile(a, .25))}, {_g(np.quantile(a, .75))}]"
        el_rows.append([name, q(e), q(l), _g(np.median(e) / np.median(l), 3)])
    blocks += [("h2", "Loss per position in the window"), ("fig", figures["per_timestep"]),
               ("p", f"Validation loss over the first {k} positions of each window (right "
                     "after a reset, or after the carried state) against the other positions:"),
               ("table", (el_head, el_rows))]
  blocks += [("h2", "Expected best of k seeds"), ("fig", figures["best_of_k"])]
  comps = [(name, c["variance_components"]) for run in runs
           for name, c in run["summary"]["conditions"].items()
           if c.get("variance_components")]
  if comps:
    vc_head = ["condition", "init share [95% CI]", "data-order share [95% CI]",
               "interaction + residual [95% CI]", "total variance"]
    vc_rows = [[name] + [f"{v[s]:.2f} [{v[s + '_low']:.2f}, {v[s + '_high']:.2f}]"
                         for s in ("init", "data", "residual")]
               + [_g(v["var_init"] + v["var_data"] + v["var_residual"], 3)]
               for name, v in comps]
    blocks += [("h2", "Where the variance comes from"),
               ("p", "A crossed grid of initialization seeds by data-order seeds, split by a "
                     "two-way random-effects ANOVA into the share due to the initialization, "
                     "to the data order, and to their interaction (with bootstrap intervals "
                     "resampling both seed sets)."),
               ("table", (vc_head, vc_rows))]
  if matrices is not None:
    blocks += [("h2", "Pairwise comparisons"), ("table", (pair_head, pair_rows)),
               ("fig", figures["improvement"])]
  md, body = [], []
  for kind, content in blocks:
    if kind in ("h1", "h2"):
      md.append(("# " if kind == "h1" else "## ") + content)
      body.append(f"<{kind}>{html.escape(content)}</{kind}>")
    elif kind == "p":
      md.append(content)
      body.append(f"<p>{html.escape(content)}</p>")
    elif kind == "table":
      md.append(_md_table(*content))
      body.append(_html_table(*content))
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
