"""How many steps each run takes to bring its validation loss down to a threshold.

  study = run_steps_to_threshold("runs/chrono_adding", "runs/chrono_adding_steps", 0.01)
  # or: python -m experiments.steps_to_threshold --sweep_workdir=runs/chrono_adding \
  #         --threshold=0.01 --workdir=runs/chrono_adding_steps

Reads a finished sweep's learning curves (`curves.npz`: the validation loss at
every evaluation, `steps`) and gives, per run, the first evaluated step whose
loss is at or below the threshold (never: censored at the budget). Per
condition: how many runs reached it, the median steps with a bootstrap
interval over seeds, and the ratio of a reference condition's median to this
one's ("times faster"). Where both conditions ran the same seeds (the same
init and data seeds, no perturbations: seed i of each shares its streams), the
bootstrap resamples seed indices jointly (paired); otherwise each condition's
seeds are resampled on their own.

A run that never reaches the threshold counts as taking the whole budget (the
last evaluated step), so a median that is censored makes the ratio a bound:
">=" when the reference's median is censored, "<=" when this condition's is.
Writes `steps_to_threshold.json` and `steps_to_threshold.md` in the workdir.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from lstm_init import records
from lstm_init.errors import ConfigError, require
from lstm_init.report.results import SweepResults, load_results
from lstm_init.report.summary import steps_to_target

N_RESAMPLES = 5000


def first_steps(curves: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
  """Per run: the first evaluated step with loss <= threshold (inf: never).

  Args:
    curves: [runs, evaluations] validation losses (NaN once a run diverged).
    steps: [evaluations] the step of each evaluation (-1 pads missing ones).
    threshold: the loss to reach.

  Returns:
    [runs] steps as floats, inf where a run never reached the threshold.
  """
  return steps_to_target(np.asarray(curves, float), np.asarray(steps), threshold, higher=False)


def censored_median(took: np.ndarray, budget: float) -> tuple[float, bool]:
  """The median of steps where never-reached runs count as the budget.

  Args:
    took: [runs] steps (inf: never reached).
    budget: the last evaluated step.

  Returns:
    (median, censored): censored is True when runs that never reached decide
    the median (it is then the budget's median, a lower bound).
  """
  took = np.asarray(took, float)
  capped = np.where(np.isfinite(took), took, budget)
  return float(np.median(capped)), not bool(np.isfinite(np.median(took)))


def _medians(resampled: np.ndarray, budget: float) -> np.ndarray:
  return np.median(np.where(np.isfinite(resampled), resampled, budget), axis=-1)


def bootstrap_medians(ref: np.ndarray, other: np.ndarray, budget: float, paired: bool,
                      seed: int = 0, n_resamples: int = N_RESAMPLES
                      ) -> tuple[np.ndarray, np.ndarray]:
  """Bootstrap medians of two conditions' steps (never-reached counted as the budget).

  Args:
    ref, other: [runs] steps of the two conditions (inf: never reached); with
      `paired`, run i of one and run i of the other share their seeds.
    budget: the last evaluated step.
    paired: resample seed indices jointly (needs equal lengths).
    seed: the numpy generator's seed.
    n_resamples: bootstrap resamples.

  Returns:
    ([n_resamples] medians of ref, [n_resamples] medians of other).
  """
  rng = np.random.default_rng(seed)
  ref, other = np.asarray(ref, float), np.asarray(other, float)
  if paired:
    require(ref.size == other.size, f"paired runs need equal counts, got {ref.size} and "
                                    f"{other.size}")
    idx = rng.integers(0, ref.size, (n_resamples, ref.size))
    return _medians(ref[idx], budget), _medians(other[idx], budget)
  i = rng.integers(0, ref.size, (n_resamples, ref.size))
  j = rng.integers(0, other.size, (n_resamples, other.size))
  return _medians(ref[i], budget), _medians(other[j], budget)


def ratio(ref, other):
  """ref / other elementwise, 1 where the two are equal (0 / 0 included), inf where
  only `other` is 0.

  Args:
    ref, other: steps (arrays or numbers, >= 0).

  Returns:
    The ratios, as an array (a 0-d array for numbers).
  """
  ref, other = np.asarray(ref, float), np.asarray(other, float)
  safe = np.where(other == 0, 1.0, other)
  return np.where(ref == other, 1.0, np.where(other == 0, np.inf, ref / safe))


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
  """The percentile interval of bootstrap values (inverted CDF: no interpolation)."""
  a = (1.0 - confidence) / 2.0
  return (float(np.quantile(values, a, method="inverted_cdf")),
          float(np.quantile(values, 1.0 - a, method="inverted_cdf")))


def _pair_keys(res: SweepResults, condition: str) -> list[tuple[int, int]]:
  return [(int(r["init_seed"]), int(r["data_seed"])) for r in res.rows
          if r["condition"] == condition]


def is_paired(res: SweepResults, a: str, b: str) -> bool:
  """Whether run i of condition a and run i of b share their seeds (and so their streams)."""
  if any(r.get("perturbation") for r in res.rows):
    return False
  keys_a, keys_b = _pair_keys(res, a), _pair_keys(res, b)
  return bool(keys_a) and keys_a == keys_b


def analyse(res: SweepResults, threshold: float, reference: str | None = None,
            seed: int = 0) -> dict[str, Any]:
  """Steps to the threshold for every condition of a sweep.

  Args:
    res: the finished sweep (`load_results`).
    threshold: the validation loss to reach (lower is better).
    reference: the condition the ratios divide (default: the first).
    seed: the bootstrap's seed.

  Returns:
    {"threshold", "reference", "budget", "conditions": [per condition: name,
    n, n_reached, steps (per seed, None: never), median, median_censored,
    median_ci, ratio, ratio_bound ("", ">=", "<=" or "undefined"), ratio_ci,
    paired]}.

  Raises:
    ConfigError: for an unknown reference condition, or a sweep whose score is
      higher-is-better (the threshold is a loss).
  """
  names = res.conditions
  reference = reference or names[0]
  if reference not in names:
    raise ConfigError(f"unknown reference condition {reference!r}; valid choices: "
                      f"{', '.join(names)}")
  if not res.summary_record.get("lower_is_better", True):
    raise ConfigError("steps to a threshold reads a loss; this sweep's score is higher-is-better")
  arrays = res.curve_arrays
  took, budget = {}, 0.0
  for ci, name in enumerate(names):
    n = sum(r["condition"] == name for r in res.rows)
    steps = arrays["steps"][ci]
    took[name] = first_steps(arrays["eval_loss"][ci, :n], steps, threshold)
    budget = max(budget, float(steps[steps >= 0].max()))
  out = []
  for name in names:
    t = took[name]
    med, censored = censored_median(t, budget)
    paired = name != reference and is_paired(res, reference, name)
    ref_b, mine_b = bootstrap_medians(took[reference], t, budget, paired, seed)
    ref_med, ref_censored = censored_median(took[reference], budget)
    bound = ("undefined" if ref_censored and censored else ">=" if ref_censored
             else "<=" if censored else "")
    out.append({
        "name": name, "n": int(t.size), "n_reached": int(np.isfinite(t).sum()),
        "steps": [None if not np.isfinite(v) else int(v) for v in t],
        "median": med, "median_censored": censored,
        "median_ci": percentile_interval(mine_b),
        "ratio": float(ratio(ref_med, med)), "ratio_bound": bound,
        "ratio_ci": percentile_interval(ratio(ref_b, mine_b)),
        "paired": paired})
  return {"threshold": float(threshold), "reference": reference, "budget": budget,
          "conditions": out}


def _number(v: float) -> str:
  return f"{v:.3g}" if math.isfinite(v) else "inf"


def to_markdown(study: dict[str, Any]) -> str:
  """The study as markdown: one table, one row per condition, and how to read it."""
  thr, ref, budget = study["threshold"], study["reference"], study["budget"]
  lines = [f"## Steps to validation loss {thr:g}", "",
           f"| condition | runs | reached {thr:g} | steps per seed (- = not in {budget:.0f}) "
           f"| median steps [95% CI] | {ref} / this, median [95% CI] | bootstrap |",
           "|---|---|---|---|---|---|---|"]
  for c in study["conditions"]:
    per_seed = ", ".join("-" if v is None else str(v) for v in c["steps"])
    med = (">= " if c["median_censored"] else "") + _number(c["median"])
    lo, hi = c["median_ci"]
    if c["name"] == ref:
      ratio, how = "1 (reference)", "-"
    elif c["ratio_bound"] == "undefined":
      ratio, how = "undefined (both medians censored)", "-"
    else:
      bound = f"{c['ratio_bound']} " if c["ratio_bound"] else ""
      rlo, rhi = c["ratio_ci"]
      ratio = f"{bound}{_number(c['ratio'])} [{_number(rlo)}, {_number(rhi)}]"
      how = "paired by seed" if c["paired"] else "unpaired"
    lines.append(f"| {c['name']} | {c['n']} | {c['n_reached']}/{c['n']} | {per_seed} | "
                 f"{med} [{_number(lo)}, {_number(hi)}] | {ratio} | {how} |")
  lines += ["", f"A run that never reached {thr:g} counts as the whole budget ({budget:.0f} "
            "steps), so a censored median (>=) is a lower bound and the ratio beside it a "
            "bound; steps are those of the evaluations (`train.eval_every`)."]
  return "\n".join(lines) + "\n"


def run_steps_to_threshold(sweep_workdir: str, workdir: str, threshold: float,
                           reference: str | None = None) -> dict[str, Any]:
  """Analyses a finished sweep and writes steps_to_threshold.json and .md.

  Args:
    sweep_workdir: the finished sweep.
    workdir: where the study's files go (created if missing).
    threshold: the validation loss to reach.
    reference: the condition the ratios divide (default: the first).

  Returns:
    The study (`analyse`).

  Raises:
    ConfigError: for a workdir that is not a finished sweep, a threshold that
      is not a positive finite number, or an unknown reference.
  """
  if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
    raise ConfigError(f"bad threshold {threshold!r}; valid: a finite number > 0")
  res = load_results(sweep_workdir)
  study = analyse(res, float(threshold), reference, seed=int(res.record["config"]["seed"]))
  study["sweep_workdir"] = os.path.abspath(sweep_workdir)
  records.write_json(os.path.join(workdir, "steps_to_threshold.json"), study)
  records.atomic_write_bytes(os.path.join(workdir, "steps_to_threshold.md"),
                             to_markdown(study).encode())
  return study
