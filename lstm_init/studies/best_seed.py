"""Is the best seed real? Select on validation, then check on test and on retraining.

Usage:

  study = run_best_seed(config, workdir)   # or: python -m experiments.best_seed

1. A population of N seeds trains; each has a validation and a test loss.
2. The seed with the lowest validation loss is "the best seed".
3. Its test loss, and the rank correlation of validation and test losses
   across seeds, say how much of its lead was luck in the evaluation.
4. Its initialization is retrained with M new data orders (init stream fixed,
   data stream new): how far does it fall back towards the population?

Writes `best_seed.json`, `best_seed.md` and `figures/best_seed.png|pdf` in the
workdir, with the two sweeps under `population/` and `retrain/`.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable, Mapping

import numpy as np

from lstm_init import records
from lstm_init.core import stats
from lstm_init.errors import ConfigError, require
from lstm_init.training.experiment import build
from lstm_init.engine.spec.axes import resolve_axes
from lstm_init.engine.spec.plan import apply_scale
from lstm_init.report.figures import pyplot, save
from lstm_init.report.document import write_report
from lstm_init.engine.sweep import run_sweep

NEW_DATA_OFFSET = 1_000_000  # data seeds no population seed uses


def _percentile_rank(value: float, population: np.ndarray) -> float:
  """Share of the population with a lower loss than `value` (0 = best)."""
  return float(np.mean(population < value))


def analyse(pop_rows: list[dict], retrain_rows: list[dict]) -> dict[str, Any]:
  """The numbers of the study from the two sweeps' result rows.

  Args:
    pop_rows: the population sweep's result rows (one per seed).
    retrain_rows: the retraining sweep's rows (one per new data order).

  Returns:
    The study's numbers by name (written as best_seed.json): the chosen seed
    and its losses, population medians, Spearman rho of validation and test,
    the lead kept on test and on retraining, expected best-of-k losses.
  """
  ok = [r for r in pop_rows if not r["diverged"]]
  val = np.array([r["final_eval_loss"] for r in ok])
  test = np.array([r["final_test_loss"] for r in ok])
  best = int(np.argmin(val))
  chosen = ok[best]
  rho, p = stats.spearman(val, test)
  retrain_val = np.array([r["final_eval_loss"] for r in retrain_rows if not r["diverged"]])
  retrain_test = np.array([r["final_test_loss"] for r in retrain_rows if not r["diverged"]])
  lead_val = float(np.median(val) - val[best])
  lead_test = float(np.median(test) - test[best])
  lead_retrain = float(np.median(val) - np.median(retrain_val)) if retrain_val.size else np.nan
  return {
      "n_seeds": len(pop_rows), "n_diverged": len(pop_rows) - len(ok),
      "chosen_seed": int(chosen["seed"]),
      "chosen_val_loss": float(val[best]), "chosen_test_loss": float(test[best]),
      "population_val_median": float(np.median(val)),
      "population_test_median": float(np.median(test)),
      "spearman_val_test": rho, "spearman_p": p,
      "chosen_test_percentile": _percentile_rank(test[best], test),
      "lead_over_median_val": lead_val, "lead_over_median_test": lead_test,
      "lead_kept_on_test": lead_test / lead_val if lead_val > 0 else np.nan,
      "retrain_n": int(retrain_val.size),
      "retrain_val_median": float(np.median(retrain_val)) if retrain_val.size else np.nan,
      "retrain_val_q10": float(np.quantile(retrain_val, 0.1)) if retrain_val.size else np.nan,
      "retrain_val_q90": float(np.quantile(retrain_val, 0.9)) if retrain_val.size else np.nan,
      "retrain_test_median": float(np.median(retrain_test)) if retrain_test.size else np.nan,
      "retrain_median_percentile": (_percentile_rank(float(np.median(retrain_val)), val)
                                    if retrain_val.size else np.nan),
      "lead_kept_on_retrain": lead_retrain / lead_val if lead_val > 0 else np.nan,
      "p_retrain_beats_random_seed": (stats.probability_of_improvement(retrain_val, val)
                                      if retrain_val.size else np.nan),
      "mannwhitney_p_retrain_vs_population": (
          float(stats.compare(retrain_val, val)["mannwhitney_p"]) if retrain_val.size > 1
          else np.nan),
      "expected_best_of_k_val": {int(k): float(stats.expected_best_of_k(val, k))
                                 for k in (1, 2, 4, 8, 16, 32) if k <= len(val)},
  }


def markdown(a: dict[str, Any]) -> str:
  """The study as a Markdown page (best_seed.md).

  Args:
    a: the output of `analyse`.

  Returns:
    The page's text.
  """
  return "\n".join([
      "# Is the best seed real?", "",
      f"Population: {a['n_seeds']} seeds ({a['n_diverged']} diverged). The best seed on "
      f"validation is seed {a['chosen_seed']}.", "",
      "| | validation loss | test loss |", "|---|---|---|",
      f"| chosen seed | {a['chosen_val_loss']:.4g} | {a['chosen_test_loss']:.4g} |",
      f"| population median | {a['population_val_median']:.4g} | "
      f"{a['population_test_median']:.4g} |",
      f"| chosen init, {a['retrain_n']} new data orders (median) | "
      f"{a['retrain_val_median']:.4g} | {a['retrain_test_median']:.4g} |", "",
      f"- Rank correlation of validation and test loss across seeds: Spearman "
      f"{a['spearman_val_test']:.2f} (p = {a['spearman_p']:.2g}).",
      f"- The chosen seed's lead over the median: {a['lead_over_median_val']:.4g} on "
      f"validation; {100 * a['lead_kept_on_test']:.0f}% of it remains on test, and "
      f"{100 * a['lead_kept_on_retrain']:.0f}% when its initialization is retrained with new "
      "data orders.",
      f"- Retrained with new data orders, the chosen initialization's median lands at the "
      f"{100 * a['retrain_median_percentile']:.0f}th percentile of the population (0 = best); "
      f"P(a retrain beats a random seed) = {a['p_retrain_beats_random_seed']:.2f} "
      f"(Mann-Whitney p = {a['mannwhitney_p_retrain_vs_population']:.2g}).",
      "- Expected best validation loss among k seeds: "
      + ", ".join(f"k={k}: {v:.4g}" for k, v in a["expected_best_of_k_val"].items()) + ".",
      "", "![best seed](figures/best_seed.png)", ""])


def wide(values: np.ndarray) -> bool:
  """Whether positive values span more than a factor of 20 (drawn on a log axis)."""
  v = values[np.isfinite(values)]
  return bool(v.size) and v.min() > 0 and v.max() / v.min() > 20


def bin_edges(values: np.ndarray, log: bool, bins: int = 20) -> np.ndarray:
  """Histogram bin edges on the scale the axis draws: log-spaced on a log axis, so
  that every bin is drawn as wide as the next.

  Args:
    values: [n] the values binned (non-finite ones ignored).
    log: whether the axis is logarithmic.
    bins: how many bins.
  Returns:
    [bins + 1] edges.
  """
  v = values[np.isfinite(values)]
  return np.geomspace(v.min(), v.max(), bins + 1) if log else np.histogram_bin_edges(v, bins)


def draw(pop_rows, retrain_rows, a):
  """The study's figure: validation vs test, and the retrained losses' histogram.

  Args:
    pop_rows, retrain_rows: as in `analyse`.
    a: the output of `analyse`.
  Returns:
    The matplotlib figure (two panels; a log axis where the losses span over 20x).
  """
  plt = pyplot()
  ok = [r for r in pop_rows if not r["diverged"]]
  val = np.array([r["final_eval_loss"] for r in ok])
  test = np.array([r["final_test_loss"] for r in ok])
  rv = np.array([r["final_eval_loss"] for r in retrain_rows if not r["diverged"]])
  both = np.concatenate([val, rv])
  log = wide(both)
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
  ax1.scatter(val, test, s=14, label="seeds")
  ax1.scatter([a["chosen_val_loss"]], [a["chosen_test_loss"]], color="r", s=40,
              label="best on validation")
  ax1.set_xlabel("validation loss")
  ax1.set_ylabel("test loss")
  ax1.set_title(f"Validation vs test (Spearman {a['spearman_val_test']:.2f})")
  ax1.legend(fontsize=8)
  bins = bin_edges(both, log)
  for x, label in ((val, "population (random inits)"), (rv, "best init, new data orders")):
    ax2.hist(x, bins=bins, weights=np.full(x.size, 1 / max(x.size, 1)), alpha=0.5, label=label)
  ax2.axvline(a["chosen_val_loss"], color="r", ls="--", label="best seed as selected")
  ax2.set_xlabel("validation loss")
  ax2.set_ylabel("fraction of runs per bin")
  ax2.set_title("Retraining the chosen initialization")
  ax2.legend(fontsize=8)
  if log:
    ax1.set_xscale("log")
    ax2.set_xscale("log")
  if wide(np.concatenate([val, test])):
    ax1.set_yscale("log")
  return fig


def figure(pop_rows, retrain_rows, a, out_dir) -> None:
  """Writes figures/best_seed.png|pdf (`draw`).

  Args:
    pop_rows, retrain_rows: as in `analyse`.
    a: the output of `analyse`.
    out_dir: the study's workdir.
  """
  save(draw(pop_rows, retrain_rows, a), out_dir, "best_seed")


def run_best_seed(config, workdir: str, log: Callable[[str], None] = print,
                  overwrite: bool = False, given: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
  """Runs both sweeps and writes the study (see module docstring).

  The study trains one condition. A config whose `sweep` varies a field is
  refused unless a `--config.<path>` value (in `given`) fixes it.

  Args:
    config: the study's config (design "seeds", `retrain_data_seeds`).
    workdir: where the study and its two sweeps are written.
    log: where progress lines go.
    overwrite: passed to both sweeps.
    given: the `--config.<path>` values given on the command line.

  Returns:
    The output of `analyse`.

  Raises:
    ConfigError: for another design, an experiment scored by a return, a sweep
      that varies a field, or fewer than 3 seeds that did not diverge.
  """
  config = apply_scale(config, given)  # once: the inner sweeps get no scales table
  require(config.design == "seeds", "the best-seed study needs design='seeds'")
  if not build(config).lower_is_better:
    raise ConfigError(f"the best-seed study ranks seeds by a loss (lower is better), but "
                      f"experiment {config.experiment!r} scores a return (higher is better); "
                      "valid choices: a supervised config; for a return, --config.design=crossed "
                      "splits its variance into the initialization's and the experience's")
  axes, notes = resolve_axes(config, None, given)
  if axes:
    path = axes[0].partition("=")[0]
    raise ConfigError(f"the best-seed study trains one condition, but the config's sweep "
                      f"varies {path} ({axes[0]}); give one value with --config.{path}=<v>")
  for note in notes:
    log(note)
  pop_cfg = copy.deepcopy(config)
  with pop_cfg.ignore_type():
    pop_cfg.sweep = ()
  log("Population sweep")
  own = {p: v for p, v in (given or {}).items() if p != "retrain_data_seeds"}
  pop = run_sweep(pop_cfg, os.path.join(workdir, "population"), sweep=[], log=log,
                  overwrite=overwrite, given=own)
  ok = [r for r in pop.rows if not r["diverged"]]
  require(len(ok) >= 3, "fewer than 3 seeds trained without diverging; nothing to select")
  best = min(ok, key=lambda r: r["final_eval_loss"])
  re_cfg = copy.deepcopy(pop_cfg)
  re_cfg.design = "crossed"
  re_cfg.num_init_seeds = 1
  re_cfg.init_seed_offset = int(best["init_seed"])
  re_cfg.num_data_seeds = int(config.retrain_data_seeds)
  re_cfg.data_seed_offset = NEW_DATA_OFFSET
  log(f"Retraining the best seed's initialization (seed {best['seed']}) with "
      f"{re_cfg.num_data_seeds} new data orders")
  re = run_sweep(re_cfg, os.path.join(workdir, "retrain"), sweep=[], log=log,
                 overwrite=overwrite)
  if config.report:
    for result in (pop, re):
      write_report([result.workdir])
  a = analyse(pop.rows, re.rows)
  records.write_json(os.path.join(workdir, "best_seed.json"), a)
  figure(pop.rows, re.rows, a, workdir)
  records.atomic_write_bytes(os.path.join(workdir, "best_seed.md"), markdown(a).encode())
  log(markdown(a))
  return a
