"""Training as pure functions of a run's keys.

Usage (the PureJaxRL shape):

  train = make_train(config)                       # pure, jittable
  results = jax.jit(jax.vmap(train))(seed_keys)    # many seeds at once

For a sweep that logs and records as it goes, `Trainer` exposes the pieces:
`init_run(keys, values)` builds one run's state, `run_chunk(state, data, n)`
advances it n steps under `lax.scan` (no host sync inside), and
`evaluate(state, data, split)` scores it. The sweep vmaps each over runs.

A run's state holds its parameters, optimizer state, carried LSTM state (for
stateful training), step, divergence flag, stream keys and its numeric
hyperparameters (`values`: learning rate, weight decay, clip norm, initial
state noise std and value). Because those values are data, not code,
conditions that differ only in them train together in one vmapped program.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from lstm_init import keys as keys_lib
from lstm_init import model as model_lib
from lstm_init import states
from lstm_init.errors import ConfigError, require, unknown
from lstm_init.tasks import Batch, Task, make_task, metric_value

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "exponential", "cosine")
# Config fields that only change numbers in a run's state (or its initial
# parameters), never the program: conditions differing only in these share
# one compiled, vmapped program.
VALUE_FIELDS = ("train.learning_rate", "train.weight_decay", "train.clip_norm",
                "model.initial_state.noise_std", "model.initial_state.value")
VALUE_PREFIXES = ("model.init.",)


def run_values(config) -> dict[str, float]:
  """The per-run numeric hyperparameters of a config."""
  return {"lr": float(config.train.learning_rate),
          "weight_decay": float(config.train.weight_decay),
          "clip_norm": float(config.train.clip_norm),
          "noise_std": float(config.model.initial_state.noise_std),
          "state_value": float(config.model.initial_state.value)}


def base_transform(tcfg) -> optax.GradientTransformation:
  """The optimizer's direction (before clipping, decay and learning rate)."""
  name = tcfg.optimizer
  if name in ("adam", "adamw"):
    return optax.scale_by_adam()
  if name == "rmsprop":
    return optax.scale_by_rms()
  if name == "sgd":
    return optax.trace(decay=float(tcfg.momentum)) if tcfg.momentum else optax.identity()
  raise unknown("optimizer", name, OPTIMIZERS)


def schedule(tcfg) -> optax.Schedule:
  """The learning-rate multiplier over steps (1.0 at the start of decay)."""
  name, steps = tcfg.schedule, int(tcfg.steps)
  if name == "constant":
    sched = optax.constant_schedule(1.0)
  elif name == "exponential":
    sched = optax.exponential_decay(1.0, int(tcfg.decay_steps), float(tcfg.decay_rate))
  elif name == "cosine":
    sched = optax.cosine_decay_schedule(1.0, max(1, steps - int(tcfg.warmup_steps)))
  else:
    raise unknown("schedule", name, SCHEDULES)
  warm = int(tcfg.warmup_steps)
  if warm > 0:
    sched = optax.join_schedules([optax.linear_schedule(0.0, 1.0, warm), sched], [warm])
  return sched


def _clip(grads, clip_norm):
  norm = optax.tree.norm(grads)
  factor = jnp.where((clip_norm > 0) & (norm > clip_norm), clip_norm / (norm + 1e-12), 1.0)
  return jax.tree.map(lambda g: g * factor, grads)


def carry_forward(fresh, previous, reset):
  """The carry a window starts from in stateful training.

  Row b continues from `previous` (its final carry of the previous window,
  with `stop_gradient`: truncated BPTT, no gradient crosses the boundary)
  unless `reset[b]`, where it starts from `fresh` (the initial-state
  strategy). This is Keras' `stateful=True` with `reset_states()` wherever the
  mask says so: at sequence starts, epoch boundaries, or every n windows.

  Args:
    fresh, previous: lists of per-layer (h, c), each [batch, H]; previous may
      be None (nothing to continue from).
    reset: [batch] bool.
  """
  if previous is None:
    return fresh
  previous = jax.lax.stop_gradient(previous)
  r = reset[:, None]
  return [(jnp.where(r, fh, ph), jnp.where(r, fc, pc))
          for (fh, fc), (ph, pc) in zip(fresh, previous)]


def _select(flag, a, b):
  """where(flag, a, b) over two pytrees of the same structure."""
  return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


@dataclasses.dataclass
class Trainer:
  """The training functions of one program (one task and structure).

  Attributes:
    config: the resolved config (values differing across runs come from
      `init_run`'s `values`, not from here).
    task: the task.
  """

  config: Any
  task: Task

  def __post_init__(self):
    c = self.config
    model_lib.check_model_config(c.model)
    require(int(c.train.batch_size) >= 1, f"train.batch_size must be >= 1, got "
                                          f"{c.train.batch_size}")
    require(int(c.train.steps) >= 1, f"train.steps must be >= 1, got {c.train.steps}")
    if c.train.optimizer not in OPTIMIZERS:
      raise unknown("optimizer", c.train.optimizer, OPTIMIZERS)
    self.stateful = bool(c.train.stateful) or c.model.initial_state.strategy == "carried"
    if self.stateful and not self.task.stream:
      raise ConfigError(f"stateful training needs a task whose windows continue each other "
                        f"(windows_per_sequence > 1); task {self.task.name!r} has independent "
                        "examples; valid choices: delayed_recall, char_lm, forecast with "
                        "task.stream=True")
    self.opt = base_transform(c.train)
    self.lr_schedule = schedule(c.train)
    # "carried" is stateful training whose state starts from zeros at resets.
    strategy = c.model.initial_state.strategy
    self.strategy = "zeros" if strategy == "carried" else strategy
    self.batch_size = int(c.train.batch_size)
    self.curve_rows = int(c.train.curve_rows) or None
    self.num_layers, self.hidden = int(c.model.num_layers), int(c.model.hidden_size)
    # Carry the state at the stride: with overlapping windows the next window
    # starts `stride` steps after this one did.
    self.carry_stride = self.task.stride if self.task.stride < self.task.window else None

  # -- pieces ---------------------------------------------------------------

  def _mask(self, batch: Batch) -> jax.Array:
    if self.config.model.readout == "last":
      return jnp.zeros_like(batch.mask).at[:, -1].set(batch.mask[:, -1])
    return batch.mask

  def _fresh_carry(self, params, values, batch_rows, key, training):
    return states.initial_carry(
        self.strategy, params["state"], batch_rows, self.num_layers, self.hidden, key=key,
        training=training, noise_std=values["noise_std"], value=values["state_value"])

  def _start_carry(self, fresh, previous, reset):
    return carry_forward(fresh, previous, reset) if self.stateful else fresh

  def _carry_at(self, rows):
    return None if self.carry_stride is None else jnp.full((rows,), self.carry_stride)

  def window_forward(self, params, values, batch: Batch, previous, key_noise, key_drop,
                     training: bool):
    """The model on one window: (outputs [batch, time, O], final carry).

    The window starts from the initial-state strategy's carry (drawn with
    `key_noise` in training), or, in stateful mode, from `previous` (without
    gradient) in every row whose `batch.reset` is False.
    """
    rows = batch.xs.shape[0]
    fresh = self._fresh_carry(params, values, rows, key_noise, training)
    carry = self._start_carry(fresh, previous, batch.reset)
    return model_lib.forward(params, batch.xs, carry, self.config.model, key=key_drop,
                             training=training, carry_at=self._carry_at(rows))

  def window_loss(self, params, values, batch: Batch, previous, key_noise, key_drop,
                  training: bool):
    """Mean masked loss of one window, with the final carry and position sums."""
    out, final = self.window_forward(params, values, batch, previous, key_noise, key_drop,
                                     training)
    per_pos, correct = model_lib.position_losses(self.task, out, batch.ys)
    mask = self._mask(batch)
    loss = jnp.sum(per_pos * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    sums = {"loss": jnp.sum(per_pos * mask, 0), "count": jnp.sum(mask, 0),
            "correct": jnp.sum(correct * batch.score, 0), "scored": jnp.sum(batch.score, 0)}
    return loss, (final, sums)

  # -- a run ----------------------------------------------------------------

  def init_run(self, run_keys: dict[str, jax.Array], values: dict[str, jax.Array]) -> dict:
    """One run's initial state from its stream keys and numeric values."""
    params = model_lib.init_model(run_keys["init"], self.task, self.config.model,
                                  values["state_value"])
    carry = self._fresh_carry(params, values, self.batch_size, None, False)
    return {"params": params, "opt_state": self.opt.init(params), "carry": carry,
            "step": jnp.zeros((), jnp.int32), "diverged": jnp.zeros((), bool),
            "keys": dict(run_keys), "values": dict(values)}

  def train_step(self, state: dict, data) -> tuple[dict, jax.Array]:
    """One optimizer step on one window. Returns (state, loss; NaN once diverged)."""
    step, k = state["step"], state["keys"]
    batch = self.task.train_batch(data, k["data"], step, self.batch_size)
    if self.stateful and int(self.config.train.reset_every) > 0:
      every = int(self.config.train.reset_every)
      window_index = step % self.task.windows_per_sequence
      batch = batch._replace(reset=batch.reset | (window_index % every == 0))
    values = state["values"]

    def loss_fn(params):
      loss, (final, _) = self.window_loss(params, values, batch, state["carry"],
                                          jax.random.fold_in(k["noise"], step),
                                          jax.random.fold_in(k["dropout"], step), True)
      return loss, final

    (loss, final), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    grads = _clip(grads, values["clip_norm"])
    updates, opt_state = self.opt.update(grads, state["opt_state"], state["params"])
    lr = values["lr"] * self.lr_schedule(step)
    params = jax.tree.map(lambda p, u: p - lr * (u + values["weight_decay"] * p),
                          state["params"], updates)
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    ok = jnp.isfinite(loss) & (loss < float(self.config.train.divergence_threshold)) & finite
    diverged = state["diverged"] | ~ok
    # A diverged run keeps its last good parameters and stops updating.
    kept = _select(diverged, (state["params"], state["opt_state"], state["carry"]),
                   (params, opt_state, final))
    new = dict(state, params=kept[0], opt_state=kept[1], carry=kept[2], step=step + 1,
               diverged=diverged)
    return new, jnp.where(diverged, jnp.nan, loss)

  def run_chunk(self, state: dict, data, num_steps: int) -> tuple[dict, jax.Array]:
    """`num_steps` train steps under `lax.scan`; returns (state, losses [num_steps])."""
    return jax.lax.scan(lambda s, _: self.train_step(s, data), state, None, length=num_steps)

  def run_piece(self, state: dict, data, segments: tuple[tuple[int, int], ...]
                ) -> tuple[dict, dict[str, jax.Array]]:
    """Training with validation between segments, all inside one program.

    `segments` is `((length, count), ...)`: `count` times, `length` train
    steps then a validation on the first `train.curve_rows` rows of the
    validation set (0: all of it). Nothing talks to the host.

    Returns:
      (state, {"train_loss": [steps] every step's loss (NaN once diverged),
      "eval_loss", "eval_metric": [evaluations]}).
    """
    out = {"train_loss": [], "eval_loss": [], "eval_metric": []}
    rows = self.curve_rows
    for length, count in segments:
      def segment(s, _, length=length):
        s, losses = self.run_chunk(s, data, length)
        ev = self.evaluate(s, data, "val", rows=rows)
        return s, (losses, ev["loss"], ev["metric"])

      state, (losses, loss, metric) = jax.lax.scan(segment, state, None, length=count)
      out["train_loss"].append(losses.reshape(-1))
      out["eval_loss"].append(loss)
      out["eval_metric"].append(metric)
    return state, {k: jnp.concatenate(v) for k, v in out.items()}

  def evaluate(self, state: dict, data, split: str = "val",
               rows: int | None = None) -> dict[str, jax.Array]:
    """Deterministic evaluation on a fixed split (the same data for every run),
    or on its first `rows` rows.

    Windows of a row are evaluated in order; with stateful training the carry
    flows from one to the next, otherwise each starts from the initial state.

    Returns:
      {"loss": mean masked loss, "metric": the task's metric,
       "per_position": [window] mean loss at each position of a window}.
    """
    params, values = state["params"], state["values"]
    windows = self.task.eval_set(data, split)
    if rows is not None:
      windows = jax.tree.map(lambda a: a[:, :rows], windows)
    rows = windows.xs.shape[1]
    start = self._fresh_carry(params, values, rows, None, False)

    def body(carry, batch):
      _, (final, sums) = self.window_loss(params, values, batch, carry, None, None, False)
      return final, sums

    _, sums = jax.lax.scan(body, start, windows)
    total = {k: jnp.sum(v, axis=0) for k, v in sums.items()}
    loss = jnp.sum(total["loss"]) / jnp.maximum(jnp.sum(total["count"]), 1.0)
    accuracy = jnp.sum(total["correct"]) / jnp.maximum(jnp.sum(total["scored"]), 1.0)
    per_position = total["loss"] / jnp.where(total["count"] > 0, total["count"], jnp.nan)
    return {"loss": loss, "metric": metric_value(self.task, loss, accuracy),
            "per_position": per_position}


def make_trainer(config, task: Task | None = None) -> Trainer:
  """A `Trainer` for `config` (building the task unless one is given)."""
  return Trainer(config, task if task is not None else make_task(config.task))


def make_train(config, task: Task | None = None):
  """Returns a pure `train(seed_key) -> metrics` for the whole run.

  The streams are `fold_in(seed_key, stream_id)` as in `lstm_init.keys`, so
  `train(fold_in(root, i))` is seed i of a sweep (without fixed streams).
  """
  trainer = make_trainer(config, task)
  values = {k: jnp.asarray(v, jnp.float32) for k, v in run_values(config).items()}
  steps = int(config.train.steps)

  def train(seed_key):
    state = trainer.init_run(keys_lib.streams_of(seed_key), values)
    state, losses = trainer.run_chunk(state, trainer.task.data, steps)
    return {"train_loss": losses, "eval": trainer.evaluate(state, trainer.task.data, "val"),
            "diverged": state["diverged"]}

  return train
