"""Which condition is best across tasks: normalized scores, IQM, profiles, ranks.

  agg = aggregate([load_results("runs/adding"), load_results("runs/copy"), ...])
  print(agg.table())
  # or: python -m experiments.report runs/adding runs/copy runs/char_lm --aggregate

Each workdir is one task, given once (the same folder or a copy of it is
refused), labelled by its folder name or, where names repeat, by the
shortest path suffix that tells them apart. The conditions every workdir ran
are compared on their final validation scores, within each task, normalized
per task so that tasks of different units can be pooled (Agarwal et al.
2021, rliable):
  - "baseline": 1 - loss / baseline, where the task has a no-learning baseline
    and scores a loss (0: no better than the baseline, 1: a perfect loss of 0);
  - "min-max": (score - worst) / (best - worst) over every run of the task's
    common conditions, oriented so that 1 is the best run; otherwise.
A diverged run scores 0 (no better than the baseline, or the worst run).
Per condition: the IQM of the normalized scores over tasks x seeds with a
stratified bootstrap interval (tasks are the strata: runs are resampled
within each task), performance profiles, and P(A better than B) averaged over
tasks (rliable's `probability_of_improvement`); and each task's ranks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from typing import Sequence

import numpy as np

from lstm_init.core import stats
from lstm_init.errors import ConfigError
from lstm_init import records
from lstm_init.report import figures
from lstm_init.report.results import SweepResults, load_results
from lstm_init.report.tables import md_table


@dataclasses.dataclass(frozen=True)
class Aggregate:
  """Conditions ranked across tasks (index i: condition, t: task)."""

  conditions: list[str]
  tasks: list[str]                  # each workdir's label (`labels`)
  normalization: list[str]          # per task: "baseline (0.1667)" or "min-max"
  scores: dict[str, np.ndarray]     # condition -> [seeds, tasks] normalized scores
  iqm: dict[str, float]
  iqm_ci: dict[str, tuple[float, float]]
  ranks: np.ndarray                 # [conditions, tasks] rank by median (1: best)
  taus: np.ndarray                  # the performance profiles' thresholds
  profiles: dict[str, np.ndarray]   # condition -> [taus] fraction of runs above tau
  p_better: dict[tuple[str, str], float]   # (A, B) -> P(A better than B), over tasks

  def table(self) -> str:
    """The ranking as plain text: IQM [95% CI], mean rank, and each task's rank."""
    order = sorted(self.conditions, key=lambda c: -self.iqm[c])
    width = max(12, *(len(c) for c in self.conditions))
    head = (f"{'condition':<{width}} {'IQM':>7} {'95% CI':>17} {'mean rank':>9} "
            + " ".join(f"{t[:12]:>12}" for t in self.tasks))
    lines = [head, "-" * len(head)]
    for c in order:
      i = self.conditions.index(c)
      lo, hi = self.iqm_ci[c]
      lines.append(f"{c:<{width}} {self.iqm[c]:>7.3f} [{lo:>7.3f}, {hi:>7.3f}] "
                   f"{self.ranks[i].mean():>9.2f} "
                   + " ".join(f"{int(r):>12d}" for r in self.ranks[i]))
    return "\n".join(lines)


def _digest(workdir: str) -> str | None:
  """SHA-256 of a workdir's config.json and results.csv (None if unreadable)."""
  h = hashlib.sha256()
  try:
    for name in ("config.json", "results.csv"):
      with open(os.path.join(workdir, name), "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
  except OSError:
    return None
  return h.hexdigest()


def check_distinct(workdirs: Sequence[str]) -> None:
  """Refuses a workdir given twice: the same folder (by any spelling or link),
  or a copy of another (identical config.json and results.csv).

  Args:
    workdirs: the workdirs' paths.

  Raises:
    ConfigError: naming both paths.
  """
  seen: dict[str, str] = {}
  digests: dict[str, str] = {}
  for w in workdirs:
    real = os.path.realpath(w)
    if real in seen:
      raise ConfigError(f"workdir {w!r} is {seen[real]!r} given again (the same folder), so "
                        "its task would count twice; valid: each task's workdir once")
    seen[real] = w
    digest = _digest(w)
    if digest is not None and digest in digests:
      raise ConfigError(f"workdir {w!r} holds the same sweep as {digests[digest]!r} "
                        "(identical config.json and results.csv: a copy), so its task would "
                        "count twice; valid: each task's workdir once")
    if digest is not None:
      digests[digest] = w


def labels(workdirs: Sequence[str]) -> list[str]:
  """Unique labels of workdirs: each folder's name, or where names repeat the
  shortest path suffix that tells them apart (`x1/run`, `x2/run`).

  Args:
    workdirs: distinct workdirs' paths.

  Returns:
    One label per workdir.
  """
  parts = [os.path.abspath(w).split(os.sep) for w in workdirs]
  depth = [1] * len(parts)
  while True:
    out = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
    clash = [i for i, label in enumerate(out)
             if out.count(label) > 1 and depth[i] < len(parts[i])]
    if not clash:
      return out
    for i in clash:
      depth[i] += 1


def check_one_task(run: SweepResults, conditions: Sequence[str], label: str) -> None:
  """Refuses a workdir whose conditions are of different tasks (a sweep over
  `task.name`): its pairwise and rank tables would compare across tasks.

  Args:
    run: one workdir's results.
    conditions: the conditions compared.
    label: the workdir's label, for the message.

  Raises:
    ConfigError: naming the workdir and its tasks.
  """
  base = run.record.get("config", {}).get("task", {}).get("name")
  overrides = {c.get("name"): c.get("overrides", {}) for c in run.record.get("conditions", [])}
  tasks = sorted({str(overrides.get(c, {}).get("task.name", base)) for c in conditions})
  if len(tasks) > 1:
    raise ConfigError(f"workdir {label!r} holds conditions of several tasks ({', '.join(tasks)}"
                      "), which --aggregate would compare with each other; valid: one task "
                      "per workdir (sweep each task into its own workdir)")


def _normalize(run: SweepResults, conditions: Sequence[str], n: int
               ) -> tuple[dict[str, np.ndarray], str]:
  """Per condition, the first n seeds' normalized scores in one task."""
  higher = not run.summary_record.get("lower_is_better", True)
  raw = {c: run.column(c, "final_eval_loss")[:n].astype(float) for c in conditions}
  diverged = {c: run.column(c, "diverged")[:n].astype(bool) for c in conditions}
  baselines = {run.condition_summary(c).baseline for c in conditions}
  baseline = next(iter(baselines)) if len(baselines) == 1 else None
  if not higher and baseline is not None and math.isfinite(baseline) and baseline > 0:
    out = {c: 1.0 - raw[c] / baseline for c in conditions}
    how = f"baseline ({baseline:.4g})"
  else:
    ok = np.concatenate([raw[c][~diverged[c] & np.isfinite(raw[c])] for c in conditions])
    if not ok.size:
      raise ConfigError(f"task {os.path.basename(os.path.normpath(run.workdir))!r} has no "
                        "finished run of the common conditions to normalize by")
    worst, best = (ok.min(), ok.max()) if higher else (ok.max(), ok.min())
    span = (best - worst) or 1.0
    out = {c: (raw[c] - worst) / span for c in conditions}
    how = "min-max"
  for c in conditions:
    out[c] = np.where(diverged[c] | ~np.isfinite(out[c]), 0.0, out[c])
  return out, how


def stratified_iqm_ci(scores: np.ndarray, n_resamples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
  """Percentile interval of the IQM of [seeds, tasks] scores, resampling seeds
  within each task (rliable's `StratifiedBootstrap`)."""
  rng = np.random.default_rng(seed)
  n, t = scores.shape
  stat = np.empty(n_resamples)
  for b in range(n_resamples):
    idx = rng.integers(0, n, size=(n, t))
    stat[b] = stats.iqm(np.take_along_axis(scores, idx, axis=0))
  alpha = (1 - confidence) / 2
  return float(np.quantile(stat, alpha)), float(np.quantile(stat, 1 - alpha))


def aggregate(runs: Sequence[SweepResults | str], n_resamples: int = 2000,
              seed: int = 0) -> Aggregate:
  """The conditions common to several tasks' workdirs, ranked across them.

  Args:
    runs: one finished sweep per task (`SweepResults`, or workdir paths).
    n_resamples: bootstrap resamples of the IQM interval.
    seed: the bootstrap's seed.

  Returns:
    The `Aggregate`.

  Raises:
    ConfigError: (one line) for fewer than two workdirs, a workdir given twice
      (`check_distinct`), workdirs that share no condition, a workdir whose
      common conditions are of different tasks (`check_one_task`), or
      workdirs that mix losses (lower is better) with returns.
  """
  runs = [load_results(r) if isinstance(r, (str, os.PathLike)) else r for r in runs]
  if len(runs) < 2:
    raise ConfigError("--aggregate ranks conditions across tasks: give two or more workdirs")
  check_distinct([r.workdir for r in runs])
  names = labels([r.workdir for r in runs])
  directions = {bool(r.summary_record.get("lower_is_better", True)) for r in runs}
  if len(directions) > 1:
    raise ConfigError("these workdirs mix higher-is-better scores (returns) with "
                      "lower-is-better ones (losses) and cannot be aggregated; valid choices: "
                      "workdirs that all score losses or all score returns")
  common = [c for c in runs[0].conditions if all(c in r.conditions for r in runs[1:])]
  if not common:
    raise ConfigError(f"the workdirs {', '.join(names)} share no condition; valid choices: "
                      "workdirs that ran the same conditions (e.g. the same "
                      "model.init.preset values)")
  for r, name in zip(runs, names):
    check_one_task(r, common, name)
  n = min(len(r.column(c, "seed")) for r in runs for c in common)
  per_task, how = zip(*(_normalize(r, common, n) for r in runs))
  scores = {c: np.stack([t[c] for t in per_task], axis=1) for c in common}
  iqm = {c: stats.iqm(scores[c]) for c in common}
  ci = {c: stratified_iqm_ci(scores[c], n_resamples, seed=seed) for c in common}
  medians = np.array([[np.median(scores[c][:, t]) for t in range(len(runs))] for c in common])
  # rank 1 = best median in the task (ties share the better rank)
  ranks = np.array([[1 + int(np.sum(medians[:, t] > medians[i, t])) for t in range(len(runs))]
                    for i in range(len(common))])
  taus = np.linspace(0.0, 1.0, 101)
  profiles = {c: stats.performance_profile(scores[c], taus) for c in common}
  # P(A better than B): per task on the normalized scores (higher better), then averaged.
  p_better = {(a, b): float(np.mean([stats.probability_of_improvement(
      -scores[a][:, t], -scores[b][:, t]) for t in range(len(runs))]))
              for a in common for b in common if a != b}
  return Aggregate(common, names, list(how), scores, iqm, ci, ranks, taus, profiles, p_better)


def profile_figure(agg: Aggregate, out_dir: str) -> str:
  """Performance profiles over the normalized scores: figures/aggregate_profiles.png."""
  plt = figures.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for c, col in zip(agg.conditions, figures.colors(len(agg.conditions))):
    ax.plot(agg.taus, agg.profiles[c], label=c, color=col)
  ax.set_xlabel("normalized score tau")
  ax.set_ylabel("fraction of runs (tasks x seeds) above tau")
  ax.set_title(f"Performance profiles over {len(agg.tasks)} tasks")
  ax.legend(fontsize=8)
  return figures.save(fig, out_dir, "aggregate_profiles")


def write_aggregate(agg: Aggregate, out_dir: str) -> str:
  """aggregate.md (normalizations, IQM ranking, P(A better than B), per-task ranks)
  and its figure into `out_dir`; returns the Markdown's path."""
  order = sorted(agg.conditions, key=lambda c: -agg.iqm[c])
  norm = md_table(["task", "normalization"], [[t, h] for t, h in zip(agg.tasks, agg.normalization)])
  n = next(iter(agg.scores.values())).shape[0]
  ranking = md_table(["condition", "IQM [95% CI]", "mean rank"] + agg.tasks, [
      [c, f"{agg.iqm[c]:.3f} [{agg.iqm_ci[c][0]:.3f}, {agg.iqm_ci[c][1]:.3f}]",
       f"{agg.ranks[agg.conditions.index(c)].mean():.2f}"]
      + [str(int(r)) for r in agg.ranks[agg.conditions.index(c)]] for c in order])
  pairs = md_table(["A \\ B"] + order, [[a] + ["" if a == b else f"{agg.p_better[a, b]:.2f}"
                                             for b in order] for a in order])
  fig = profile_figure(agg, out_dir)
  text = "\n\n".join([
      "# Conditions across tasks", f"Tasks: {', '.join(agg.tasks)}; {n} seeds per condition and "
      "task (the first ones of each).", "## Normalization per task", norm,
      "## IQM over tasks x seeds", "The interquartile mean of the normalized scores (1: best, 0: "
      "the no-learning baseline or the task's worst run) with a stratified bootstrap interval "
      "(runs resampled within each task); ranks are by each task's median.", ranking,
      "## P(row better than column), averaged over tasks", pairs,
      "## Performance profiles", f"![{os.path.basename(fig)}]({fig})"]) + "\n"
  path = os.path.join(out_dir, "aggregate.md")
  records.atomic_write_bytes(path, text.encode())
  return path
