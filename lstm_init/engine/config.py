"""The full set of config fields with their defaults.

Every file in `configs/` starts from `base_config()` and changes what it needs,
so any field can be overridden from the command line of any config
(`--config.task.length=200`) and a mistyped field fails with a suggestion.
"""

from __future__ import annotations

import math

import ml_collections
from ml_collections import config_dict

from lstm_init.errors import ConfigError


def base_config() -> ml_collections.ConfigDict:
  """Every config field with its default (each commented where it is set).

  Returns:
    A fresh ConfigDict: the top-level design and sweep fields and the `task`,
    `model`, `train` and `signal` sections.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0                    # experiment seed: the root key of every run
  c.num_seeds = 32              # seeds per condition
  c.fixed_streams = ""          # streams held fixed across seeds: "data", "init,data", ...
  c.design = "seeds"            # "seeds", "crossed" (init seed x data seed grid) or
                                # "instability" (one-bit flips of a base seed's parameters)
  c.num_init_seeds = 8          # crossed design: init seeds
  c.num_data_seeds = 8          # crossed design: data seeds
  c.init_seed_offset = 0        # crossed design: first init seed index
  c.data_seed_offset = 0        # crossed design: first data seed index
  c.num_base_seeds = 1          # instability design: base seeds, each num_seeds runs (run 0
                                # unperturbed, run j > 0 one bit flipped; lstm_init.core.perturb)
  c.base_seed_offset = 0        # instability design: first base seed index
  c.retrain_data_seeds = 16     # best-seed study: retrains of the chosen seed, new data orders
  c.sweep = ()                  # default sweep axes, e.g. ("model.init.preset=keras,pytorch",)
  c.name = "sweep"              # a label for reports
  c.experiment = "supervised"   # what trains: "supervised" (the LSTM on c.task), "a2c"
                                # (recurrent A2C on gymnax, needs c.rl: configs/a2c_*.py) or
                                # "module:factory" of your own (lstm_init.training.experiment)

  c.task = ml_collections.ConfigDict()
  c.task.name = "adding"        # adding, copy, delayed_recall, digits, forecast, char_lm
  c.task.length = 50            # adding: sequence length T
  c.task.delay = 20             # copy: blanks T; delayed_recall: d in y_t = x_(t-d)
  c.task.window = 20            # delayed_recall, forecast, char_lm: steps per window
  c.task.overlap = 0.0          # fraction of a window shared with the next (0.5 = 50%)
  c.task.windows_per_sequence = 10  # consecutive windows per training sequence (streams)
  c.task.symbols = 8            # delayed_recall: alphabet size
  c.task.mode = "row"           # digits: "pixel" (64 steps) or "row" (8 steps)
  c.task.permuted = False       # digits: one fixed pixel permutation
  c.task.permutation_seed = 0   # digits: which permutation
  c.task.split_seed = 0         # digits: which train/val/test split
  c.task.series = "mackey_glass"  # forecast: mackey_glass, noisy_sines, file
  c.task.series_length = 4000   # forecast: length of a generated series
  c.task.series_seed = 0        # forecast: noise of noisy_sines
  c.task.path = ""              # forecast (.csv/.npy) or char_lm (text) file
  c.task.column = 0             # forecast: CSV column
  c.task.missing = "refuse"     # forecast file: missing values: refuse, drop, interpolate
  c.task.target = "last"        # forecast: "last" (after the window) or "all" (every step)
  c.task.stream = False         # forecast: consecutive windows (needed for stateful)
  c.task.split = "0.7,0.15,0.15"  # forecast: chronological train,val,test fractions
  c.task.max_chars = 200_000    # char_lm: characters of the corpus used
  c.task.eval_size = 512        # generated tasks: evaluation examples; digits: val/test size
  c.task.eval_rows = 16         # stream tasks: evaluation rows (each a run of windows)
  c.task.eval_seed = 0          # evaluation data: the same for every seed

  c.model = ml_collections.ConfigDict()
  c.model.hidden_size = 32
  c.model.num_layers = 1
  c.model.residual = False      # skip connections between layers of equal width
  c.model.residual_scale = "sqrt_half"  # "sqrt_half", "none" or a number
  c.model.dropout = 0.0         # between layers (training only)
  c.model.input_dropout = 0.0   # on the inputs (training only)
  c.model.readout = "auto"      # "auto" (the task's), "last" or "all"
  c.model.impl = "fused"        # LSTM layer: "fused" (custom VJP, fast) or "scan" (reference)
  c.model.cell = "lstm"         # "lstm", or a plain RNN: "rnn_tanh", "rnn_relu" (lstm_init.core.rnn;
                                # presets pytorch, keras, irnn, orthogonal)
  c.model.init = ml_collections.ConfigDict()
  c.model.init.preset = "keras"  # keras, tf1, pytorch, flax_linen, flax_nnx, haiku, equinox, chrono, irnn
  c.model.init.input_kernel = ""     # override by initializer name ("" = the preset's)
  c.model.init.recurrent_kernel = ""
  c.model.init.bias = ""
  c.model.init.forget_bias = config_dict.placeholder(float)  # None = the preset's
  c.model.init.t_max = config_dict.placeholder(float)        # chrono's T_max (None = 100)
  c.model.init.recurrent_scale = 1.0
  c.model.init.readout = "glorot_uniform"  # readout weights, the same for every preset
  c.model.initial_state = ml_collections.ConfigDict()
  c.model.initial_state.strategy = "zeros"  # zeros, constant, learned, noisy, learned_noisy,
                                            # carried (= stateful training, zeros at resets)
  c.model.initial_state.noise_std = 0.1     # noisy strategies, training only
  c.model.initial_state.value = 0.0         # constant strategy; start of a learned state

  c.train = ml_collections.ConfigDict()
  c.train.steps = 400
  c.train.batch_size = 32
  c.train.optimizer = "adam"    # adam, adamw, sgd, rmsprop
  c.train.learning_rate = 3e-3
  c.train.momentum = 0.9        # sgd
  c.train.weight_decay = 0.0    # adamw
  c.train.schedule = "constant"  # constant, exponential, cosine
  c.train.decay_rate = 0.5      # exponential: factor per decay_steps
  c.train.decay_steps = 1000
  c.train.warmup_steps = 0
  c.train.clip_norm = 1.0       # global gradient norm clip (0 = off)
  c.train.eval_every = 0        # steps between validations, inside the compiled piece
                                # (0 = auto: about steps // 40, so >= 40 points per curve)
  c.train.log_every = 100       # steps per piece: log, progress, metrics.jsonl, checkpoint
  c.train.curve_rows = 64       # validation rows of the learning curves (0 = all); the final
                                # validation loss always uses the whole set
  c.train.stateful = False      # carry the state from window to window (truncated BPTT);
                                # resets use the initial-state strategy
  c.train.reset_every = 0       # stateful: also reset every n windows (0 = never)
  c.train.divergence_threshold = 1e6  # a loss above this (or NaN/inf) marks the seed diverged

  c.signal = ml_collections.ConfigDict()  # experiments.signal_propagation
  c.signal.presets = ""         # comma-separated; "" = every framework preset, chrono, irnn
  c.signal.batch = 32           # input rows the diagnostics run on
  c.signal.depth = 8            # layers of the residual-depth study
  c.signal.fraction = 1e-3      # gradient reach: distance where the norm < fraction x distance 0

  c.memory_budget_gb = config_dict.placeholder(float)  # None: a safe share of memory
  c.max_chunk_seeds = 0         # 0 = as many as memory allows
  c.devices = 0                 # shard seeds over this many devices (0 = all)
  c.seed_group = -1             # runs vmapped together inside a device's loop over runs:
                                # -1 = the backend's fixed size (1 on CPU, 1024 on GPU/TPU),
                                # n >= 1 = exactly n; a run always computes in a batch of this size
  c.seed_group_timing = False   # True: time candidate sizes and keep the fastest (per-seed
                                # results then depend on the choice; lstm_init.engine.seed_groups)
  c.checkpoint_every_s = 30.0   # checkpoint at most this often (between pieces; 0 = always)
  c.report = True               # write report.md and figures at the end
  c.writers = "jsonl"           # metric writers: "jsonl" (metrics.jsonl), "jsonl,tensorboard"
                                # (also tensorboard/<condition>/: curve quantiles, finals)
  c.report_first_k = 0          # early positions set apart in reports (0 = the task's)
  return c


# --------------------------------------------------------------------------
# Numeric ranges, checked for every condition before anything is trained.

_FINITE = "a finite number"
# path: (test, what the value must be)
_RANGES = {
    "seed": (lambda v: v >= 0, ">= 0"),
    "num_seeds": (lambda v: v >= 1, ">= 1"),
    "num_init_seeds": (lambda v: v >= 1, ">= 1"),
    "num_data_seeds": (lambda v: v >= 1, ">= 1"),
    "init_seed_offset": (lambda v: v >= 0, ">= 0"),
    "data_seed_offset": (lambda v: v >= 0, ">= 0"),
    "retrain_data_seeds": (lambda v: v >= 1, ">= 1"),
    "task.eval_size": (lambda v: v >= 1, ">= 1"),
    "task.eval_rows": (lambda v: v >= 1, ">= 1"),
    "task.series_length": (lambda v: v >= 1, ">= 1"),
    "task.max_chars": (lambda v: v >= 1, ">= 1"),
    "model.initial_state.noise_std": (lambda v: v >= 0, ">= 0"),
    "model.initial_state.value": (lambda v: True, _FINITE),
    "model.init.forget_bias": (lambda v: True, _FINITE),
    "model.init.t_max": (lambda v: v > 2, "> 2 (chrono's longest time scale)"),
    "model.init.recurrent_scale": (lambda v: True, _FINITE),
    "train.steps": (lambda v: v >= 1, ">= 1"),
    "train.batch_size": (lambda v: v >= 1, ">= 1"),
    "train.learning_rate": (lambda v: v > 0, "> 0"),
    "train.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.weight_decay": (lambda v: v >= 0, ">= 0"),
    "train.decay_rate": (lambda v: v > 0, "> 0"),
    "train.decay_steps": (lambda v: v >= 1, ">= 1"),
    "train.warmup_steps": (lambda v: v >= 0, ">= 0"),
    "train.clip_norm": (lambda v: v >= 0, ">= 0 (0 = off)"),
    "train.eval_every": (lambda v: v >= 0, ">= 0 (0 = auto: steps // 40)"),
    "train.log_every": (lambda v: v >= 1, ">= 1"),
    "train.curve_rows": (lambda v: v >= 0, ">= 0 (0 = the whole validation set)"),
    "train.reset_every": (lambda v: v >= 0, ">= 0 (0 = never)"),
    "train.divergence_threshold": (lambda v: v > 0, "> 0"),
    "memory_budget_gb": (lambda v: v > 0, "> 0"),
    "max_chunk_seeds": (lambda v: v >= 0, ">= 0 (0 = as many as fit)"),
    "devices": (lambda v: v >= 0, ">= 0 (0 = all)"),
    "seed_group": (lambda v: v == -1 or v >= 1,
                   "-1 (the backend's fixed size: 1 on CPU, 1024 on GPU/TPU) or n >= 1; 0 (all "
                   "runs at once) is gone: a seed's batch would depend on the number of seeds"),
    "checkpoint_every_s": (lambda v: v >= 0, ">= 0"),
}


# Fields that may change between a run and its resumption without changing results.
RESUMABLE_FIELDS = ("report", "checkpoint_every_s", "memory_budget_gb", "max_chunk_seeds",
                    "devices", "writers")

EVAL_POINTS = 40  # validations per run when train.eval_every = 0


def eval_every(tcfg) -> int:
  """Steps between validations: `train.eval_every`, or when it is 0 the largest
  divisor of `train.log_every` not above steps // 40 (so at least 40 points,
  and every piece of the host loop has the same shape).

  Args:
    tcfg: the `config.train` section (eval_every, steps, log_every).

  Returns:
    The number of steps, >= 1.
  """
  every = int(tcfg.eval_every)
  if every > 0:
    return every
  most = max(1, int(tcfg.steps) // EVAL_POINTS)
  log_every = int(tcfg.log_every)
  return max(d for d in range(1, min(most, log_every) + 1) if log_every % d == 0)


def _get(config, path: str):
  node = config
  for part in path.split("."):
    if part not in node:
      return None
    node = node[part]
  return node


def check_config(config) -> None:
  """Refuses a numeric field outside its range (NaN and inf included).

  Args:
    config: a whole config (fields it lacks are skipped).

  Raises:
    ConfigError: naming the field, the value and the valid range; or for
      `seed_group_timing=True` without `seed_group=-1`.
  """
  for path, (test, valid) in _RANGES.items():
    value = _get(config, path)
    if value is None or isinstance(value, bool):
      continue
    ok = isinstance(value, (int, float)) and math.isfinite(value) and test(value)
    if not ok:
      raise ConfigError(f"bad value {value!r} for {path}; valid: {valid}"
                        + ("" if valid == _FINITE else f", {_FINITE}"))
  if bool(_get(config, "seed_group_timing")) and _get(config, "seed_group") != -1:
    raise ConfigError(f"seed_group_timing=True times the candidate sizes, so it needs "
                      f"seed_group=-1, got seed_group={_get(config, 'seed_group')}; valid "
                      "choices: a fixed seed_group, or seed_group=-1 with seed_group_timing")


# --------------------------------------------------------------------------
# Fields that a run uses only in some settings. A value given for a field
# that no condition uses would be silently ignored, so it is refused.

TASK_FIELDS = {
    "adding": ("length", "eval_size", "eval_seed"),
    "copy": ("delay", "eval_size", "eval_seed"),
    "delayed_recall": ("window", "delay", "windows_per_sequence", "symbols", "overlap",
                       "eval_rows", "eval_seed"),
    "digits": ("mode", "permuted", "permutation_seed", "split_seed", "eval_size"),
    "forecast": ("series", "series_length", "series_seed", "path", "column", "missing",
                 "target", "stream", "split", "window", "windows_per_sequence", "overlap",
                 "eval_rows"),
    "char_lm": ("path", "max_chars", "window", "windows_per_sequence", "overlap", "eval_rows"),
}
# Fields read only by the studies (experiments.best_seed, signal_propagation).
STUDY_FIELDS = ("retrain_data_seeds", "signal.")


def _stateful(c) -> bool:
  return bool(c.train.stateful) or c.model.initial_state.strategy == "carried"


def _chrono_bias(c) -> bool:
  bias = c.model.init.bias or ("chrono" if c.model.init.preset == "chrono" else "")
  return str(bias).partition(":")[0] == "chrono"


# path: (is it used in config c, when it is used)
_USED_WHEN = {
    "train.momentum": (lambda c: c.train.optimizer == "sgd", "train.optimizer=sgd"),
    "train.decay_rate": (lambda c: c.train.schedule == "exponential",
                         "train.schedule=exponential"),
    "train.decay_steps": (lambda c: c.train.schedule == "exponential",
                          "train.schedule=exponential"),
    "train.reset_every": (_stateful, "stateful training (train.stateful=True or "
                          "model.initial_state.strategy=carried)"),
    "model.init.t_max": (_chrono_bias, "a chrono bias (model.init.preset=chrono or "
                         "model.init.bias=chrono)"),
    "model.initial_state.noise_std": (
        lambda c: c.model.initial_state.strategy in ("noisy", "learned_noisy"),
        "model.initial_state.strategy=noisy or learned_noisy"),
    "model.initial_state.value": (
        lambda c: c.model.initial_state.strategy in ("constant", "learned", "learned_noisy"),
        "model.initial_state.strategy=constant, learned or learned_noisy"),
    "model.impl": (lambda c: c.model.get("cell", "lstm") == "lstm", "model.cell=lstm (a plain RNN cell "
                   "has one implementation)"),
    "model.dropout": (lambda c: int(c.model.num_layers) > 1,
                      "model.num_layers > 1 (it acts between layers)"),
    "model.residual": (lambda c: int(c.model.num_layers) > 1, "model.num_layers > 1"),
    "model.residual_scale": (lambda c: bool(c.model.residual) and int(c.model.num_layers) > 1,
                             "model.residual=True with model.num_layers > 1"),
    "num_seeds": (lambda c: c.design in ("seeds", "instability"),
                  "design=seeds or instability"),
    "num_base_seeds": (lambda c: c.design == "instability", "design=instability"),
    "base_seed_offset": (lambda c: c.design == "instability", "design=instability"),
    "num_init_seeds": (lambda c: c.design == "crossed", "design=crossed"),
    "num_data_seeds": (lambda c: c.design == "crossed", "design=crossed"),
    "init_seed_offset": (lambda c: c.design == "crossed", "design=crossed"),
    "data_seed_offset": (lambda c: c.design == "crossed", "design=crossed"),
    "task.series_length": (lambda c: c.task.series != "file", "a generated series "
                           "(task.series=mackey_glass or noisy_sines)"),
    "task.series_seed": (lambda c: c.task.series == "noisy_sines", "task.series=noisy_sines"),
    "task.column": (lambda c: c.task.series == "file", "task.series=file"),
    "task.missing": (lambda c: c.task.series == "file", "task.series=file"),
    "task.permutation_seed": (lambda c: bool(c.task.permuted), "task.permuted=True"),
    "seed_group_timing": (lambda c: int(c.seed_group) == -1, "seed_group=-1"),
}


def conditional_fields() -> list[str]:
  """Every field that a run uses only in some settings (see `unused_reason`).

  Returns:
    The dotted paths, sorted.
  """
  tasks = sorted({f"task.{f}" for fields in TASK_FIELDS.values() for f in fields})
  return sorted(set(tasks) | set(_USED_WHEN))


def unused_reason(config, path: str) -> str | None:
  """Why `path` has no effect on a run of `config`, or None when it is used.

  Args:
    config: one condition's config.
    path: a dotted field path.

  Returns:
    The reason in words, or None.
  """
  if path.startswith(STUDY_FIELDS):
    return "it is read only by the studies (experiments.best_seed, signal_propagation)"
  if path.startswith("task.") and path != "task.name":
    field = path[len("task."):]
    name = config.task.name
    if name in TASK_FIELDS and field not in TASK_FIELDS[name]:
      users = [t for t, fields in TASK_FIELDS.items() if field in fields]
      return f"task {name!r} does not use it (used by: {', '.join(users)})"
    if name == "forecast" and field == "path" and config.task.series != "file":
      return "task.series is not 'file'"
  if path in _USED_WHEN:
    used, when = _USED_WHEN[path]
    if not used(config):
      return f"it is used only with {when}"
  return None

