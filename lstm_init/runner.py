"""Executes a planned sweep: trains each group's runs and writes the records.

`sweep.run_sweep` is the entry point; this module holds the loop. Runs of one
group (conditions sharing a program) are stacked on one axis; they are split
into chunks of runs that fit in memory, and each chunk trains in jitted
pieces of `eval_every` steps with evaluation and logging in between.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lstm_init import records, stats
from lstm_init.errors import ConfigError
from lstm_init.sweep import Progress, SweepPlan, SweepResult, condition_keys
from lstm_init.train import run_values

RESULT_COLUMNS = ["condition", "seed", "init_seed", "data_seed", "final_train_loss",
                  "final_eval_loss", "final_eval_metric", "final_test_loss",
                  "final_test_metric", "early_eval_loss", "late_eval_loss", "diverged",
                  "diverged_step"]


def early_late(per_position: np.ndarray, k: int) -> tuple[float, float]:
  """Mean loss over the first k positions of a window and over the rest."""
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return float(np.nanmean(per_position[:k])), float(np.nanmean(per_position[k:]))


def eval_steps(total: int, every: int) -> list[int]:
  """The steps after which the sweep evaluates: 0 (at initialization), every
  `every` steps, and the last."""
  return list(range(0, total, every)) + [total]


def _concat(trees):
  return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *trees)


def _stack_values(values: dict[str, float], n: int) -> dict[str, jax.Array]:
  return {k: jnp.full((n,), v, jnp.float32) for k, v in values.items()}


class GroupPrograms:
  """The jitted, vmapped functions of one group (compiled once, reused by chunks)."""

  def __init__(self, plan: SweepPlan, group: list[int]):
    self.trainer = plan.trainers[group[0]]
    self.init = {ci: jax.jit(jax.vmap(plan.trainers[ci].init_run)) for ci in group}
    self.chunk = jax.jit(jax.vmap(self.trainer.run_chunk, in_axes=(0, None, None)),
                         static_argnums=2)
    self.evaluate = jax.jit(jax.vmap(self.trainer.evaluate, in_axes=(0, None, None)),
                            static_argnums=2)


def init_runs(plan: SweepPlan, programs: GroupPrograms, runs: list[tuple[int, int]]):
  """The stacked initial state of `runs` ((condition, seed row) pairs)."""
  states = []
  for ci in dict.fromkeys(c for c, _ in runs):
    rows = np.array([r for c, r in runs if c == ci])
    cfg = plan.conditions[ci].config
    k = condition_keys(cfg, plan.layouts[ci], rows)
    states.append(programs.init[ci](k, _stack_values(run_values(cfg), len(rows))))
  return _concat(states)


def train_runs(plan: SweepPlan, programs: GroupPrograms, runs, data, steps: list[int],
               progress: Progress, prefix: str, on_eval: Callable[[dict], None]):
  """Trains one chunk of runs to the end; returns per-run records as arrays."""
  state = init_runs(plan, programs, runs)
  n = len(runs)
  train_curve = np.full((n, len(steps)), np.nan)
  eval_loss = np.full((n, len(steps)), np.nan)
  eval_metric = np.full((n, len(steps)), np.nan)
  diverged_step = np.full((n,), -1)
  done = 0
  for e, upto in enumerate(steps):
    if upto == 0:  # evaluation at initialization
      ev = programs.evaluate(state, data, "val")
      eval_loss[:, 0], eval_metric[:, 0] = np.asarray(ev["loss"]), np.asarray(ev["metric"])
      continue
    state, losses = programs.chunk(state, data, upto - done)
    ev = programs.evaluate(state, data, "val")
    losses = np.asarray(losses)  # the host sync: once per chunk
    first_nan = np.where(np.isnan(losses).any(axis=1), np.argmax(np.isnan(losses), axis=1), -1)
    newly = (diverged_step < 0) & (first_nan >= 0)
    diverged_step[newly] = done + first_nan[newly] + 1
    # The mean loss of the chunk over the steps before a seed diverged.
    finite = np.isfinite(losses)
    train_curve[:, e] = np.where(finite.any(axis=1),
                                 np.where(finite, losses, 0).sum(1) / np.maximum(finite.sum(1), 1),
                                 np.nan)
    eval_loss[:, e] = np.asarray(ev["loss"])
    eval_metric[:, e] = np.asarray(ev["metric"])
    progress.update(n * (upto - done), f"{prefix} step {upto}/{steps[-1]}", train_curve[:, e],
                    eval_loss[:, e])
    on_eval({"step": upto, "runs": n, "train_loss": train_curve[:, e],
             "eval_loss": eval_loss[:, e], "eval_metric": eval_metric[:, e]})
    done = upto
  test = programs.evaluate(state, data, "test")
  return {"train_curve": train_curve, "eval_loss": eval_loss, "eval_metric": eval_metric,
          "per_position": np.asarray(ev["per_position"]),
          "test_loss": np.asarray(test["loss"]), "test_metric": np.asarray(test["metric"]),
          "diverged": np.asarray(state["diverged"]), "diverged_step": diverged_step}


def chunk_runs(runs: list, size: int) -> list[list]:
  size = max(1, size)
  return [runs[i:i + size] for i in range(0, len(runs), size)]


def config_record(plan: SweepPlan) -> dict[str, Any]:
  return {"config": plan.config.to_dict(),
          "conditions": [{"name": c.name, "overrides": c.overrides} for c in plan.conditions],
          "groups": plan.groups}


def prepare_workdir(workdir: str, record: dict[str, Any], overwrite: bool) -> None:
  """Creates the workdir; refuses one that holds another config's results."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path) and not overwrite:
    with open(path) as f:
      old = json.load(f)
    if old != json.loads(json.dumps(record, default=records._default)):
      raise ConfigError(f"workdir {workdir!r} holds results of a different config; choose "
                        "another --workdir or pass --overwrite")
  os.makedirs(workdir, exist_ok=True)


def execute(plan: SweepPlan, workdir: str, log: Callable[[str], None] = print,
            overwrite: bool = False) -> SweepResult:
  """Trains every group and writes config, environment, results, curves, summary."""
  record = config_record(plan)
  prepare_workdir(workdir, record, overwrite)
  records.write_json(os.path.join(workdir, "config.json"), record)
  records.write_json(os.path.join(workdir, "environment.json"), records.environment())
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(metrics_path):
    os.remove(metrics_path)
  cfg = plan.config
  steps = [eval_steps(int(c.config.train.steps), int(c.config.train.eval_every))
           for c in plan.conditions]
  total = sum(len(plan.layouts[i]["seed"]) * s[-1] for i, s in enumerate(steps))
  progress = Progress(total, log)
  log(describe_plan(plan))
  per_condition: dict[int, dict[str, np.ndarray]] = {}
  for g, group in enumerate(plan.groups):
    programs = GroupPrograms(plan, group)
    task = plan.tasks[group[0]]
    runs = [(ci, r) for ci in group for r in range(len(plan.layouts[ci]["seed"]))]
    size = int(cfg.max_chunk_seeds) or len(runs)
    chunks = chunk_runs(runs, size)
    for k, chunk in enumerate(chunks):
      prefix = f"[group {g + 1}/{len(plan.groups)} chunk {k + 1}/{len(chunks)} {len(chunk)} runs]"
      names = [plan.conditions[ci].name for ci, _ in chunk]

      def on_eval(m, names=names, g=g):
        records.append_jsonl(metrics_path, {"group": g, **m, "conditions": names})

      out = train_runs(plan, programs, chunk, task.data, steps[group[0]], progress, prefix,
                       on_eval)
      for ci in dict.fromkeys(c for c, _ in chunk):
        sel = np.array([i for i, (c, _) in enumerate(chunk) if c == ci])
        rows = np.array([r for c, r in chunk if c == ci])
        dest = per_condition.setdefault(ci, {})
        for name, arr in out.items():
          if name not in dest:
            dest[name] = np.full((len(plan.layouts[ci]["seed"]),) + arr.shape[1:], np.nan,
                                 dtype=np.float64 if arr.dtype != bool else bool)
          dest[name][rows] = arr[sel]
  rows = result_rows(plan, per_condition)
  curves = curve_arrays(plan, per_condition, steps)
  summary = summarize(plan, rows)
  records.write_csv(os.path.join(workdir, "results.csv"), rows, result_columns(plan))
  records.write_npz(os.path.join(workdir, "curves.npz"), **curves)
  records.write_json(os.path.join(workdir, "summary.json"), summary)
  log(summary_table(summary))
  if cfg.report:
    from lstm_init import report
    paths = report.write_report([workdir], workdir)
    log(f"report: {paths['report_md']} (figures in {os.path.join(workdir, 'figures')})")
  return SweepResult(workdir, rows, summary, curves)


def describe_plan(plan: SweepPlan) -> str:
  c0 = plan.conditions[0].config
  task = plan.tasks[0]
  seeds = len(plan.layouts[0]["seed"])
  lines = [f"Sweep {c0.name!r}: {len(plan.conditions)} condition(s) x {seeds} seeds on "
           f"{task.description}",
           f"  baseline: {task.baseline:.4g} ({task.baseline_note})",
           f"  {len(plan.groups)} program(s); conditions: "
           + "; ".join(c.name for c in plan.conditions)]
  return "\n".join(lines)


def result_columns(plan: SweepPlan) -> list[str]:
  axes = list(dict.fromkeys(p for c in plan.conditions for p in c.overrides))
  return RESULT_COLUMNS + axes


def first_k(plan: SweepPlan, ci: int) -> int:
  return int(plan.conditions[ci].config.report_first_k) or plan.tasks[ci].first_k


def result_rows(plan: SweepPlan, per: dict[int, dict[str, np.ndarray]]) -> list[dict]:
  rows = []
  for ci, c in enumerate(plan.conditions):
    out, lay = per[ci], plan.layouts[ci]
    k = first_k(plan, ci)
    for r in range(len(lay["seed"])):
      early, late = early_late(out["per_position"][r], k)
      row = {"condition": c.name, "seed": int(lay["seed"][r]),
             "init_seed": int(lay["init_seed"][r]), "data_seed": int(lay["data_seed"][r]),
             "final_train_loss": float(out["train_curve"][r, -1]),
             "final_eval_loss": float(out["eval_loss"][r, -1]),
             "final_eval_metric": float(out["eval_metric"][r, -1]),
             "final_test_loss": float(out["test_loss"][r]),
             "final_test_metric": float(out["test_metric"][r]),
             "early_eval_loss": early, "late_eval_loss": late,
             "diverged": bool(out["diverged"][r]),
             "diverged_step": int(out["diverged_step"][r])}
      row.update(c.overrides)
      rows.append(row)
  return rows


def curve_arrays(plan: SweepPlan, per, steps) -> dict[str, np.ndarray]:
  """[condition, seed, eval step] arrays (NaN-padded where sizes differ)."""
  n_c = len(plan.conditions)
  n_s = max(len(l["seed"]) for l in plan.layouts)
  n_e = max(len(s) for s in steps)
  n_w = max(per[ci]["per_position"].shape[1] for ci in range(n_c))
  out = {name: np.full((n_c, n_s, n_e), np.nan) for name in
         ("train_loss", "eval_loss", "eval_metric")}
  out["per_timestep_loss"] = np.full((n_c, n_s, n_w), np.nan)
  out["steps"] = np.full((n_c, n_e), -1)
  for ci in range(n_c):
    p, s = per[ci], len(plan.layouts[ci]["seed"])
    e = len(steps[ci])
    out["train_loss"][ci, :s, :e] = p["train_curve"]
    out["eval_loss"][ci, :s, :e] = p["eval_loss"]
    out["eval_metric"][ci, :s, :e] = p["eval_metric"]
    out["per_timestep_loss"][ci, :s, :p["per_position"].shape[1]] = p["per_position"]
    out["steps"][ci, :e] = steps[ci]
  out["conditions"] = np.array([c.name for c in plan.conditions])
  return out


def summarize(plan: SweepPlan, rows: list[dict]) -> dict[str, Any]:
  """Per condition: statistics of the final evaluation loss over non-diverged seeds."""
  task = plan.tasks[0]
  out = {"metric": task.metric, "baseline": task.baseline, "baseline_note": task.baseline_note,
         "task": task.description, "first_k": first_k(plan, 0), "conditions": {}}
  for ci, c in enumerate(plan.conditions):
    mine = [r for r in rows if r["condition"] == c.name]
    ok = np.array([r["final_eval_loss"] for r in mine if not r["diverged"]])
    d = stats.describe(ok)
    low, high = stats.bootstrap_ci(ok, key_or_seed=int(plan.config.seed)) if ok.size else (
        math.nan, math.nan)
    metric = np.array([r["final_eval_metric"] for r in mine if not r["diverged"]])
    early = np.array([r["early_eval_loss"] for r in mine if not r["diverged"]])
    late = np.array([r["late_eval_loss"] for r in mine if not r["diverged"]])
    n_div = sum(r["diverged"] for r in mine)
    out["conditions"][c.name] = {
        "n": len(mine), "n_diverged": int(n_div),
        **{k: d.get(k, math.nan) for k in ("mean", "std", "median", "iqm", "min", "max")},
        "ci95_low": low, "ci95_high": high,
        "metric_mean": float(metric.mean()) if metric.size else math.nan,
        "metric_median": float(np.median(metric)) if metric.size else math.nan,
        "early_median": _finite_median(early), "late_median": _finite_median(late),
        "overrides": c.overrides}
    if c.config.design == "crossed":
      out["conditions"][c.name]["variance_components"] = crossed_components(
          mine, int(plan.config.seed))
  return out


def _finite_median(a: np.ndarray) -> float:
  """Median of the finite values (NaN when there are none: e.g. early-position loss of
  a task scored only at the last step)."""
  a = a[np.isfinite(a)]
  return float(np.median(a)) if a.size else math.nan


def crossed_components(rows: list[dict], seed: int) -> dict[str, float]:
  """Variance components of the final validation loss over an init x data grid."""
  inits = sorted({r["init_seed"] for r in rows})
  datas = sorted({r["data_seed"] for r in rows})
  table = np.full((len(inits), len(datas)), np.nan)
  for r in rows:
    table[inits.index(r["init_seed"]), datas.index(r["data_seed"])] = r["final_eval_loss"]
  if not np.isfinite(table).all() or min(table.shape) < 2:
    return {}
  return stats.variance_components(table, key_or_seed=seed)


def summary_table(summary: dict[str, Any]) -> str:
  """A plain-text table of the summary, for the log."""
  head = (f"{'condition':<32} {'n':>4} {'div':>4} {'mean':>9} {'95% CI':>21} {'median':>9} "
          f"{'iqm':>9} {'std':>9} {'min':>9} {'max':>9} {summary['metric']:>9}")
  lines = [f"Final validation loss per condition ({summary['task']}; baseline "
           f"{summary['baseline']:.4g}, lower is better; {summary['metric']} = median over "
           "seeds):", head, "-" * len(head)]
  for name, s in summary["conditions"].items():
    lines.append(f"{name[:32]:<32} {s['n']:>4} {s['n_diverged']:>4} {s['mean']:>9.4g} "
                 f"[{s['ci95_low']:>9.4g},{s['ci95_high']:>9.4g}] {s['median']:>9.4g} "
                 f"{s['iqm']:>9.4g} {s['std']:>9.3g} {s['min']:>9.4g} {s['max']:>9.4g} "
                 f"{s['metric_median']:>9.4g}")
  return "\n".join(lines)
