"""The coordinate check of microsoft/mup (`mup.coord_check`), for the LSTM.

Usage:

  frame = coord_data(config, ["keras", "mup"], widths=[32, 64, 128, 256])
  table = slopes(frame)          # log-log slope of each size against width
  run_coord_check(config, workdir)   # or: python -m experiments.coord_check

For each condition and width, a few seeds are trained for 10 steps on the
config's task (the config's optimizer and learning rate, the engine's own
update step: `Supervised.train_step`). At initialization (t = 0) and after
t = 1, 2, 5, 10 steps, on a fixed probe batch (the first rows of the
validation set), the root-mean-square size of

  input_projection      x_s W_x                  [batch, 4H]
  recurrent_projection  h_(s-1) W_h              [batch, 4H]
  preactivation         x_s W_x + h_(s-1) W_h + b (all four gates)
  c, h                  the cell and hidden state after step s
  readout               h_s W_out + b_out (the model's output)

is recorded at several positions s of the sequence, and after each step t the
RMS of every parameter's update (W_t - W_(t-1)). The slope of log(RMS)
against log(width) says how each size scales: 0 is the width-independent
behaviour the maximal-update parametrization asks for (mup README,
"Coord Check"; mup plots the mean absolute value, l1, where this uses the RMS).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lstm_init import records
from lstm_init.core import initial_states, keys, lstm
from lstm_init.engine.spec.plan import apply_scale
from lstm_init.errors import ConfigError, require
from lstm_init.report.figures import colors, pyplot, save
from lstm_init.studies.parametrizations import condition_config, parse_list
from lstm_init.training import supervised

STEPS = (0, 1, 2, 5, 10)
ACTIVATIONS = ("input_projection", "recurrent_projection", "preactivation", "c", "h",
               "readout")


def rms(a: jax.Array) -> jax.Array:
  """Root mean square of every entry: sqrt(mean(a^2))."""
  return jnp.sqrt(jnp.mean(jnp.square(a)))


def layer_trace(p: Mapping[str, jax.Array], xs: jax.Array, h0: jax.Array, c0: jax.Array
                ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """One LSTM layer (`lstm.cell`'s step) with the sizes of its parts.

  Args:
    p: the layer's {"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}.
    xs: [time, batch, I], time-major.
    h0, c0: [batch, H].

  Returns:
    (hs [time, batch, H], {name: [time] RMS} for input_projection,
    recurrent_projection, preactivation, c, h).
  """

  def step(carry, x):
    h, c = carry
    xp, rp = x @ p["W_x"], h @ p["W_h"]
    z = xp + rp + p["b"]
    i, f, g, o = lstm.gates(z)
    c = f * c + i * g
    h = o * jnp.tanh(c)
    sizes = {"input_projection": rms(xp), "recurrent_projection": rms(rp),
             "preactivation": rms(z), "c": rms(c), "h": rms(h)}
    return (h, c), (h, sizes)

  _, (hs, sizes) = jax.lax.scan(step, (h0, c0), xs)
  return hs, sizes


def activation_sizes(params: Mapping[str, Any], xs: jax.Array, strategy: str,
                     state_value: jax.Array | float = 0.0) -> dict[str, jax.Array]:
  """Every traced size of the model on a batch, at every position.

  Args:
    params: `training.model.init_model`'s parameters (a plain LSTM stack).
    xs: [batch, time, I].
    strategy: the initial-state strategy (noise off: evaluation's carry).
    state_value: the constant strategy's value.

  Returns:
    {name: [layers, time]} for the layer sizes, and "readout": [1, time].
  """
  batch = xs.shape[0]
  layers, hidden = len(params["lstm"]), params["lstm"][0]["W_h"].shape[0]
  carry = initial_states.initial_carry(strategy, params["state"], batch, layers, hidden,
                                       value=state_value)
  h = jnp.swapaxes(xs, 0, 1)
  per_layer = []
  for p, (h0, c0) in zip(params["lstm"], carry):
    h, sizes = layer_trace(p, h, h0, c0)
    per_layer.append(sizes)
  out = {k: jnp.stack([s[k] for s in per_layer]) for k in per_layer[0]}
  y = h @ params["readout"]["W"] + params["readout"]["b"]  # [time, batch, O]
  out["readout"] = jnp.sqrt(jnp.mean(jnp.square(y), axis=(1, 2)))[None]
  return out


def update_sizes(new: Any, old: Any) -> dict[str, jax.Array]:
  """RMS of each parameter's change, by its name ("lstm.0.W_h", "readout.W", ...)."""
  flat_new = jax.tree_util.tree_flatten_with_path(new)[0]
  flat_old = jax.tree_util.tree_leaves(old)
  return {".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): rms(n - o)
          for (path, n), o in zip(flat_new, flat_old)}


def positions(spec: str, length: int) -> list[int]:
  """1-based positions of `coord_check.positions` ("1,2,10,-1"; -1 = the last)."""
  out = []
  for v in parse_list(spec, int, "coord_check.positions"):
    pos = length + 1 + v if v < 0 else v
    require(1 <= pos <= length, f"coord_check.positions: {v} is outside a sequence of "
            f"{length} steps; valid: 1..{length}, or -1 for the last")
    out.append(pos)
  return sorted(set(out))


def coord_data(config, conditions: Sequence[str], widths: Sequence[int],
               steps: Sequence[int] = STEPS, seeds: int = 4, at: str = "1,2,10,-1"
               ) -> pd.DataFrame:
  """The sizes of every condition at every width, step and probed position.

  Args:
    config: a supervised config (its task, batch size, optimizer, learning rate, seed).
    conditions: names for `parametrizations.condition_overrides` (presets, muP variants).
    widths: hidden sizes.
    steps: training steps after which to measure (0 = at initialization).
    seeds: runs per condition and width (seed s: the engine's run s's keys).
    at: positions in the sequence where the activations are recorded.

  Returns:
    A long frame: condition, width, seed, step, quantity, layer, position
    (0 for a parameter's update), rms.
  """
  rows = []
  for name in conditions:
    for w in widths:
      cfg = condition_config(config, name, w)
      if int(cfg.model.num_layers) > 1 and bool(cfg.model.residual):
        raise ConfigError("the coordinate check traces plain stacks; valid: model.residual="
                          "False")
      spec = supervised.make_supervised(cfg)
      values = {k: jnp.full((seeds,), v, jnp.float32)
                for k, v in supervised.run_values(cfg).items()}
      probe = jax.tree.map(lambda a: a[0, :spec.batch_size], spec.task.eval_set(
          spec.task.data, "val"))
      where = np.array(positions(at, probe.xs.shape[1])) - 1
      root = keys.root_key(int(cfg.seed))
      run_keys = jax.vmap(lambda s: keys.streams_of(jax.random.fold_in(root, s)))(
          jnp.arange(seeds))
      state = jax.jit(jax.vmap(spec.init))(run_keys, values)
      train = jax.jit(jax.vmap(spec.train_step, in_axes=(0, None)))
      sizes = jax.jit(jax.vmap(lambda p, v: activation_sizes(p, probe.xs, spec.strategy, v)))
      for t in range(max(steps) + 1):
        if t > 0:
          new, _ = train(state, spec.task.data)
          if t in steps:
            for q, v in jax.device_get(jax.vmap(update_sizes)(new.params, state.params)
                                       ).items():
              rows += [(name, w, s, t, "update:" + q, 0, 0, float(v[s])) for s in range(seeds)]
          state = new
        if t in steps:
          got = jax.device_get(sizes(state.params, state.values["state_value"]))
          for q, v in got.items():  # v: [seeds, layers, time]
            rows += [(name, w, s, t, q, layer, int(pos) + 1, float(v[s, layer, pos]))
                     for s in range(seeds) for layer in range(v.shape[1]) for pos in where]
  return pd.DataFrame(rows, columns=["condition", "width", "seed", "step", "quantity", "layer",
                                     "position", "rms"])


def slopes(frame: pd.DataFrame) -> pd.DataFrame:
  """The log-log slope of each size against width (sizes averaged over seeds).

  Args:
    frame: `coord_data`'s frame.

  Returns:
    One row per condition, step, quantity, layer and position: "slope" (NaN
    where a size is 0 at some width, e.g. a zero readout at t = 0) and the
    seed-mean RMS per width ("rms_<width>").
  """
  keys_ = ["condition", "step", "quantity", "layer", "position"]
  mean = frame.groupby(keys_ + ["width"], sort=False)["rms"].mean().unstack("width")
  x = np.log(np.asarray(mean.columns, float))
  xc = x - x.mean()
  with np.errstate(divide="ignore", invalid="ignore"):
    y = np.log(mean.to_numpy())
    slope = np.where(np.isfinite(y).all(axis=1), (y - y.mean(axis=1, keepdims=True)) @ xc
                     / (xc @ xc), np.nan)
  out = mean.rename(columns=lambda w: f"rms_{w}").reset_index()
  out.insert(len(keys_), "slope", slope)
  return out


def figure(table: pd.DataFrame, condition: str, position: int, out_dir: str) -> str:
  """Writes figures/coord_check_<condition>.png|pdf: each size against width
  (log-log), one panel per step; top row the activations at `position`, bottom
  row the parameters' updates; each line labelled with its slope.

  Args:
    table: `slopes`' table.
    condition: the condition drawn.
    position: the sequence position of the activations drawn.
    out_dir: the study's workdir.

  Returns:
    The PNG's relative path.
  """
  plt = pyplot()
  t = table[(table.condition == condition) & (table.layer == 0)]
  steps = sorted(t.step.unique())
  widths = [int(c[4:]) for c in t.columns if c.startswith("rms_")]
  fig, axes = plt.subplots(2, len(steps), figsize=(3.2 * len(steps), 6), squeeze=False)
  rows = (t[t.position == position], t[t.quantity.str.startswith("update:")])
  for r, part in enumerate(rows):
    names = sorted(part.quantity.unique())
    for ax, step in zip(axes[r], steps):
      for q, col in zip(names, colors(len(names))):
        row = part[(part.step == step) & (part.quantity == q)]
        if row.empty:
          continue
        y = row[[f"rms_{w}" for w in widths]].to_numpy()[0]
        ok = y > 0
        if ok.any():
          ax.plot(np.array(widths)[ok], y[ok], "o-", ms=3, color=col,
                  label=f"{q.removeprefix('update:')} ({row.slope.iloc[0]:+.2f})")
      ax.set_xscale("log", base=2)
      ax.set_yscale("log")
      ax.set_title(f"{'activations' if r == 0 else 'updates'}, t={step}", fontsize=9)
      ax.set_xlabel("width H")
      if ax.has_data():
        ax.legend(fontsize=6)
      else:
        ax.set_visible(False)  # nothing to draw (no update at t = 0)
  axes[0][0].set_ylabel(f"RMS at position {position}")
  axes[1][0].set_ylabel("RMS of the step's update")
  fig.suptitle(f"coordinate check: {condition} (slope of log RMS against log H)")
  fig.tight_layout()
  return save(fig, out_dir, f"coord_check_{condition}")


def markdown(table: pd.DataFrame, position: int) -> str:
  """The slopes as a Markdown page (coord_check.md): per condition, each size
  (activations at `position`, updates) against the steps t.

  Args:
    table: `slopes`' table.
    position: the sequence position of the activations tabled.

  Returns:
    The page's text.
  """
  steps = sorted(table.step.unique())
  lines = ["# Coordinate check: slope of log RMS against log width", "",
           f"Activations at position {position} of the sequence (layer 0), and each "
           "parameter's update; 0 = width-independent, blank = zero at some width.", ""]
  for condition in table.condition.unique():
    t = table[(table.condition == condition) & (table.layer == 0)]
    t = t[(t.position == position) | t.quantity.str.startswith("update:")]
    lines += [f"## {condition}", "", "| size | " + " | ".join(f"t={s}" for s in steps) + " |",
              "|---|" + "---|" * len(steps)]
    for q in list(ACTIVATIONS) + sorted(q for q in t.quantity.unique() if q.startswith("update")):
      cells = []
      for s in steps:
        v = t[(t.quantity == q) & (t.step == s)].slope
        cells.append(f"{v.iloc[0]:+.2f}" if len(v) and np.isfinite(v.iloc[0]) else "")
      lines.append(f"| {q} | " + " | ".join(cells) + " |")
    lines += ["", f"![{condition}](figures/coord_check_{condition}.png)", ""]
  return "\n".join(lines)


def coord_settings(config, given: Mapping[str, Any] | None = None):
  """The coordinate check's settings from `config.coord_check`, checked.

  Args:
    config: the config (configs/width_transfer.py: `coord_check` holds the
      conditions, widths, seeds and positions; the training fields are the run's).
    given: the `--config.<path>` values given on the command line.

  Returns:
    (the config with its scale applied, conditions, widths, seeds, positions);
    every condition's config is built once (`supervised.make_supervised`).

  Raises:
    ConfigError: (one line) for a bad setting or condition.
  """
  config = apply_scale(config, given)
  require("coord_check" in config, "the coordinate check needs a `coord_check` section "
          "(configs/width_transfer.py)")
  s = config.coord_check
  names = parse_list(s.conditions, str, "coord_check.conditions")
  widths = sorted(parse_list(s.widths, int, "coord_check.widths"))
  require(len(set(widths)) >= 2 and min(widths) >= 1 and int(s.seeds) >= 1,
          f"coord_check.widths={s.widths!r}, seeds={s.seeds}; valid: two or more distinct "
          "widths >= 1 and seeds >= 1")
  for name in names:
    spec = supervised.make_supervised(condition_config(config, name, widths[0]))
    positions(s.positions, spec.task.eval_set(spec.task.data, "val").xs.shape[2])
  return config, names, widths, int(s.seeds), s.positions


def run_coord_check(config, workdir: str, log: Callable[[str], None] = print,
                    given: Mapping[str, Any] | None = None) -> pd.DataFrame:
  """Runs the coordinate check of `config.coord_check` and writes it.

  Writes coord_check.csv (every size), coord_slopes.csv (`slopes`),
  coord_check.md and one figure per condition in the workdir.

  Args:
    config: the config (see `coord_settings`).
    workdir: where the outputs go.
    log: where progress lines go.
    given: the `--config.<path>` values given on the command line.

  Returns:
    `slopes`' table.
  """
  config, names, widths, seeds, at = coord_settings(config, given)
  log(f"Coordinate check: {', '.join(names)} at widths {widths}, {seeds} seeds")
  frame = coord_data(config, names, widths, STEPS, seeds, at)
  table = slopes(frame)
  os.makedirs(workdir, exist_ok=True)
  records.atomic_write_bytes(os.path.join(workdir, "coord_check.csv"),
                             frame.to_csv(index=False).encode())
  records.atomic_write_bytes(os.path.join(workdir, "coord_slopes.csv"),
                             table.to_csv(index=False).encode())
  last = int(frame[frame.position > 0].position.max())
  for name in names:
    figure(table, name, last, workdir)
  page = markdown(table, last)
  records.atomic_write_bytes(os.path.join(workdir, "coord_check.md"), page.encode())
  log(page)
  return table
