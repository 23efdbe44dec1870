"""The signal-propagation study: diagnostics for presets x seeds, figures, and
whether the diagnostics predict training outcomes.

  run_signal(config, workdir)                          # presets x seeds
  run_signal(config, workdir, sweep_workdir="runs/x")  # and join with a sweep

The parameters are drawn exactly as a sweep draws them (same root key, seed
indices and `init` streams), so seed i here is seed i of a sweep with the same
config, and its diagnostics can be set against its final loss.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from lstm_init import records
from lstm_init.studies import diagnostics
from lstm_init.core import stats
from lstm_init.engine.spec.schema import check_config
from lstm_init.errors import ConfigError
from lstm_init.core.presets import FRAMEWORK_PRESETS, PRESETS, init_params
from lstm_init.training.model import ModelSpec, init_model
from lstm_init.report.figures import band, colors, pyplot, save
from lstm_init.report.results import load_results
from lstm_init.engine.persist.record import config_from_record
from lstm_init.engine.spec.seeds import SeedSpec, condition_keys, seed_layout
from lstm_init.training.tasks import make_task

DEFAULT_PRESETS = (*FRAMEWORK_PRESETS, "chrono", "irnn")
# Per-seed scalars set against the final loss.
PREDICTORS = ("reach", "grad_at_half", "forget_mean", "timescale", "saturation",
              "jacobian_sv_mean", "h_var_last")


def preset_list(spec: str) -> list[str]:
  """The presets `config.signal.presets` names.

  Args:
    spec: comma-separated preset names; empty for `DEFAULT_PRESETS`.

  Returns:
    The names, in the order given.

  Raises:
    ConfigError: for a name not in `PRESETS`.
  """
  names = [s.strip() for s in spec.split(",") if s.strip()] or list(DEFAULT_PRESETS)
  for n in names:
    if n not in PRESETS:
      raise ConfigError(f"unknown preset {n!r}; valid choices: {', '.join(sorted(PRESETS))}")
  return names


def _inputs(config, task):
  ev = task.eval_set(task.data, "val")
  xs = ev.xs[0][: int(config.signal.batch)]
  return xs


def diagnose_preset(config, preset: str, xs) -> dict[str, np.ndarray]:
  """Diagnostics of every seed of one preset, vmapped (one program per preset).

  Args:
    config: the study's config; `model.init.preset` is replaced by `preset`.
    preset: a preset name.
    xs: [batch, time, I] inputs.

  Returns:
    `diagnostics.diagnose`'s arrays with a leading [seeds] axis (the Jacobian
    as "jacobian_sv" [seeds, samples, H]), "recurrent_block_sv" of layer 0
    [seeds, 4, H] and "depth_var_<name>" [seeds, depth] of
    `residual_depth_variance`.
  """
  cfg = copy.deepcopy(config)
  cfg.model.init.preset = preset
  task = make_task(cfg.task)
  seeds = SeedSpec.of(cfg)
  layout = seed_layout(seeds)
  keys = condition_keys(seeds, layout, np.arange(len(layout["seed"])))
  params = jax.jit(jax.vmap(lambda k: init_model(k, task, ModelSpec.of(cfg.model))["lstm"]))(keys["init"])
  d = jax.jit(jax.vmap(diagnostics.diagnose, (0, None)))(params, xs)
  d = {k: np.asarray(v) for k, v in d.items()}
  d["jacobian_sv"] = diagnostics.singular_values(d.pop("jacobian"))   # [S, samples, H]
  d["recurrent_block_sv"] = diagnostics.recurrent_spectra(np.asarray(params[0]["W_h"]))
  # Residual depth study: a deep stack of width H on standardized inputs.
  hidden, depth = int(cfg.model.hidden_size), int(cfg.signal.depth)
  deep_x = jax.random.normal(jax.random.key(7), (xs.shape[0], min(xs.shape[1], 50), hidden))
  deep = jax.jit(jax.vmap(lambda k: init_params(k, hidden, hidden, preset=preset,
                                                 num_layers=depth)))(keys["init"])
  res = jax.jit(jax.vmap(diagnostics.residual_depth_variance, (0, None)))(deep, deep_x)
  for k, v in res.items():
    d[f"depth_var_{k}"] = np.asarray(v)
  return d


def per_seed_predictors(d: dict[str, np.ndarray], fraction: float) -> dict[str, np.ndarray]:
  """One number per seed for each of `PREDICTORS`.

  Args:
    d: one preset's output of `diagnose_preset`.
    fraction: the threshold of `diagnostics.reach`.

  Returns:
    {predictor: [seeds] floats}.
  """
  g = d["grad_norm"][:, -1]  # top layer, [S, distance]
  half = g.shape[-1] // 2
  return {"reach": diagnostics.reach(g, fraction).astype(float),
          "grad_at_half": np.log10(g[:, half] / g[:, 0] + 1e-30),
          "forget_mean": d["forget_mean"].mean(-1), "timescale": d["timescale"].mean(-1),
          "saturation": d["saturation"].mean(axis=(-1, -2)),
          "jacobian_sv_mean": d["jacobian_sv"].mean(axis=(-1, -2)),
          "h_var_last": d["h_var"][:, -1, -1]}


def summarize(presets, diags, fraction) -> dict[str, Any]:
  """Per-preset summary numbers of the diagnostics (medians and means over seeds).

  Args:
    presets: the preset names.
    diags: their outputs of `diagnose_preset`, in the same order.
    fraction: the threshold of `diagnostics.reach`.

  Returns:
    {preset: {name: number or list}} (reach, forget mean, timescale,
    saturation per gate, spectra, h variance, variance with depth).
  """
  out = {}
  for name, d in zip(presets, diags):
    g = d["grad_norm"][:, -1]
    med = np.median(g, axis=0)
    sv = d["jacobian_sv"]
    block = d["recurrent_block_sv"]
    out[name] = {
        "reach_of_median": int(diagnostics.reach(med, fraction)),
        "reach_per_seed_median": float(np.median(diagnostics.reach(g, fraction))),
        "grad_norm_distance0_median": float(med[0]),
        "forget_mean": float(d["forget_mean"].mean()),
        "timescale_median": float(np.median(d["timescale"])),
        "saturation_per_gate": dict(zip(diagnostics.GATE_NAMES,
                                        d["saturation"].mean(axis=(0, 1)).tolist())),
        "jacobian_sv_mean": float(sv.mean()), "jacobian_sv_max": float(sv.max()),
        "jacobian_sv_q10_q90": np.quantile(sv, [0.1, 0.9]).tolist(),
        "recurrent_block_sv_mean": float(block.mean()),
        "recurrent_block_sv_min_max": [float(block.min()), float(block.max())],
        "h_var_last": float(np.median(d["h_var"][:, 0, -1])),
        "depth_var": {k[len("depth_var_"):]: np.median(v, axis=0).tolist()
                      for k, v in d.items() if k.startswith("depth_var_")},
    }
  return out


def figures(presets, diags, out_dir) -> None:
  """Writes the study's four figures (gradient reach, saturation, spectra, depth).

  Args:
    presets, diags: as in `summarize`.
    out_dir: the directory whose figures/ they go in.
  """
  plt = pyplot()
  cols = colors(len(presets))
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, d, c in zip(presets, diags, cols):
    g = d["grad_norm"][:, -1]
    band(ax, np.arange(g.shape[-1]), g / np.median(g[:, :1]), name, c)
  ax.set_yscale("log")
  ax.set_xlabel("distance from the last step")
  ax.set_ylabel("|dL/d(h_t, c_t)| relative to distance 0")
  ax.set_title("How far back the gradient reaches at initialization")
  ax.legend(fontsize=7, ncol=2)
  save(fig, out_dir, "grad_norm_vs_distance")
  fig, ax = plt.subplots(figsize=(8, 4))
  width = 0.8 / len(presets)
  for j, (name, d, c) in enumerate(zip(presets, diags, cols)):
    ax.bar(np.arange(4) + j * width, d["saturation"].mean(axis=(0, 1)), width, color=c,
           label=name)
  ax.set_xticks(np.arange(4) + 0.4 - width / 2, diagnostics.GATE_NAMES)
  ax.set_ylabel(f"share of activations < {diagnostics.SATURATION} or > "
                f"{1 - diagnostics.SATURATION}")
  ax.set_title("Gate saturation at initialization")
  ax.legend(fontsize=7, ncol=3)
  save(fig, out_dir, "saturation")
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
  for name, d, c in zip(presets, diags, cols):
    sv = np.sort(d["jacobian_sv"].ravel())
    ax1.plot(sv, np.linspace(0, 1, sv.size), color=c, label=name)
    bs = np.sort(d["recurrent_block_sv"].ravel())
    ax2.plot(bs, np.linspace(0, 1, bs.size), color=c, label=name)
  ax1.set_xlabel("singular value of dh_t/dh_(t-1)")
  ax1.set_ylabel("cumulative share")
  ax1.set_title("One-step Jacobian spectra (layer 0)")
  ax2.set_xlabel("singular value of a gate block of W_h")
  ax2.set_title("Recurrent weight spectra per gate block")
  ax1.legend(fontsize=7)
  save(fig, out_dir, "jacobian_spectra")
  fig, ax = plt.subplots(figsize=(7, 4))
  for name, d, c in zip(presets, diags, cols):
    for key, ls in (("depth_var_plain", ":"), ("depth_var_residual_none", "--"),
                    ("depth_var_residual_sqrt_half", "-")):
      ax.plot(np.arange(1, d[key].shape[-1] + 1), np.median(d[key], axis=0), ls=ls, color=c,
              label=f"{name} {key[len('depth_var_'):]}" if name == presets[0] else None)
  ax.set_yscale("log")
  ax.set_xlabel("layer")
  ax.set_ylabel("output variance")
  ax.set_title("Variance with depth: plain (dotted), residual (dashed), residual / sqrt 2")
  ax.legend(fontsize=7)
  save(fig, out_dir, "depth_variance")


def join_with_sweep(config, presets, diags, sweep_workdir: str, fraction) -> dict[str, Any]:
  """Rank correlations of per-seed diagnostics with the sweep's final losses.

  Args:
    config: the study's config (its preset is the sweep's default one).
    presets, diags: as in `summarize`.
    sweep_workdir: a sweep's workdir; its results.csv gives the losses.
    fraction: the threshold of `diagnostics.reach`.

  Returns:
    {"within_preset": {preset: {predictor: rho}}, "pooled": {predictor: rho},
    "across_presets": {predictor: rho} (with 3 or more presets), "presets"}.

  Raises:
    ConfigError: when the sweep has no non-diverged seed of any preset.
  """
  rows = load_results(sweep_workdir).rows
  col = "model.init.preset"
  preds, losses, names = [], [], []
  out = {"within_preset": {}, "across_presets": {}, "pooled": {}}
  for name, d in zip(presets, diags):
    mine = {r["seed"]: r["final_eval_loss"] for r in rows
            if r.get(col, config.model.init.preset) == name and not r["diverged"]}
    if not mine:
      continue
    p = per_seed_predictors(d, fraction)
    seeds = np.array(sorted(mine))
    seeds = seeds[seeds < len(p["reach"])]
    loss = np.array([mine[s] for s in seeds])
    out["within_preset"][name] = {k: stats.spearman(v[seeds], loss)[0] for k, v in p.items()}
    preds.append({k: v[seeds] for k, v in p.items()})
    losses.append(loss)
    names.append(name)
  if not names:
    raise ConfigError(f"no seeds of presets {presets} in {sweep_workdir}/results.csv")
  for k in PREDICTORS:
    pooled_x = np.concatenate([p[k] for p in preds])
    out["pooled"][k] = stats.spearman(pooled_x, np.concatenate(losses))[0]
    if len(names) >= 3:
      out["across_presets"][k] = stats.spearman([np.median(p[k]) for p in preds],
                                                [np.median(l) for l in losses])[0]
  out["presets"] = names
  return out


def run_signal(config, workdir: str, sweep_workdir: str | None = None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs the diagnostics and writes signal.npz, signal.json, signal.md and figures.

  Args:
    config: the study's config (with a `signal` section).
    workdir: where the outputs go.
    sweep_workdir: a sweep to join with (`join_with_sweep`), or None.
    log: where progress lines go.

  Returns:
    The summary written as signal.json.

  Raises:
    ConfigError: for a bad config or preset list.
  """
  check_config(config)
  presets = preset_list(config.signal.presets)
  task = make_task(config.task)
  xs = _inputs(config, task)
  fraction = float(config.signal.fraction)
  log(f"Signal propagation at initialization: {len(presets)} presets x "
      f"{len(seed_layout(SeedSpec.of(config))['seed'])} seeds on {task.description} "
      f"({xs.shape[0]} input rows, {xs.shape[1]} steps)")
  diags = []
  for name in presets:
    diags.append(diagnose_preset(config, name, xs))
    log(f"  {name}: done")
  os.makedirs(workdir, exist_ok=True)
  arrays = {k: np.stack([d[k] for d in diags]) for k in diags[0]}
  arrays["grad_norm_vs_distance"] = arrays["grad_norm"][:, :, -1]
  arrays["presets"] = np.array(presets)
  records.write_npz(os.path.join(workdir, "signal.npz"), **arrays)
  summary = {"presets": presets, "task": task.description, "steps": int(xs.shape[1]),
             "fraction": fraction, "per_preset": summarize(presets, diags, fraction),
             "config": config.to_dict()}
  if sweep_workdir:
    summary["predicts_outcome"] = join_with_sweep(config, presets, diags, sweep_workdir,
                                                  fraction)
  records.write_json(os.path.join(workdir, "signal.json"), summary)
  figures(presets, diags, workdir)
  md = markdown(summary)
  records.atomic_write_bytes(os.path.join(workdir, "signal.md"), md.encode())
  log(md)
  return summary


def markdown(s: dict[str, Any]) -> str:
  """The study as a Markdown page (signal.md).

  Args:
    s: the summary of `run_signal`.

  Returns:
    The page's text.
  """
  lines = ["# Signal propagation at initialization", "",
           f"{s['task']}; {s['steps']} steps. Reach: the first distance from the last step "
           f"at which the median |dL/dh_t| over seeds falls below {s['fraction']:g} of its "
           "value at distance 0.", "",
           "| preset | reach (steps) | forget mean | timescale (median) | saturation i/f/g/o "
           "| Jacobian SV mean [q10, q90] | W_h block SV mean [min, max] |",
           "|---|---|---|---|---|---|---|"]
  for name, v in s["per_preset"].items():
    sat = "/".join(f"{x:.2f}" for x in v["saturation_per_gate"].values())
    q = v["jacobian_sv_q10_q90"]
    mm = v["recurrent_block_sv_min_max"]
    lines.append(f"| {name} | {v['reach_of_median']} | {v['forget_mean']:.3f} | "
                 f"{v['timescale_median']:.2f} | {sat} | {v['jacobian_sv_mean']:.3f} "
                 f"[{q[0]:.3f}, {q[1]:.3f}] | {v['recurrent_block_sv_mean']:.3f} "
                 f"[{mm[0]:.3f}, {mm[1]:.3f}] |")
  lines += ["", "![gradient reach](figures/grad_norm_vs_distance.png)",
            "![saturation](figures/saturation.png)",
            "![spectra](figures/jacobian_spectra.png)",
            "![depth](figures/depth_variance.png)"]
  if "predicts_outcome" in s:
    p = s["predicts_outcome"]
    lines += ["", "## Do the diagnostics predict the final loss?", "",
              "Spearman rank correlation of each per-seed diagnostic with the seed's final "
              "validation loss (negative: a larger value goes with a lower loss).", "",
              "| predictor | pooled over all seeds | across presets (medians) | "
              + " | ".join(f"within {n}" for n in p["presets"]) + " |",
              "|---|---|---|" + "---|" * len(p["presets"])]
    for k in PREDICTORS:
      within = " | ".join(f"{p['within_preset'][n][k]:.2f}" for n in p["presets"])
      across = p["across_presets"].get(k, float("nan"))
      lines.append(f"| {k} | {p['pooled'][k]:.2f} | {across:.2f} | {within} |")
  return "\n".join(lines) + "\n"


def config_from_workdir(workdir: str) -> ml_collections.ConfigDict:
  """The config a sweep ran with (from its config.json).

  Args:
    workdir: the sweep's workdir.

  Returns:
    The config.
  """
  return config_from_record(load_results(workdir).record)
