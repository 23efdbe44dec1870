"""The built-in experiment: the project's LSTM trained on a supervised task.

  exp = make_experiment(config)          # an `Experiment` (lstm_init.training.experiment)
  state = exp.init(run_keys, values)     # one run; vmap for many
  state, per_step = exp.train_chunk(state, exp.data, n)
  scores = exp.evaluate(state, exp.data, "val")

What training and evaluation need is read from the config once, into the
frozen `Supervised` spec (only `init` hands `config.model` to
`model.init_model`, which reads the initializer names while tracing). A run's
state (`RunState`) holds its parameters, optimizer state (with the run's
learning rate, weight decay, clip norm and momentum, `lstm_init.training.optim`), the
carried LSTM state for stateful training, its step, divergence flag, stream
keys and initial-state numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lstm_init import fields
from lstm_init.training import model as model_lib
from lstm_init.training import optim
from lstm_init.core import perturb, initial_states
from lstm_init.errors import ConfigError
from lstm_init.training.experiment import Experiment
from lstm_init.training.step import apply_update
from lstm_init.core.presets import resolve_layer
from lstm_init.training.tasks import Batch, Task, make_task, stateful_tasks

# Config fields that only change numbers in a run's state (or its initial
# parameters), never the program: conditions differing only in these share
# one compiled, vmapped program.
VALUE_FIELDS = tuple(optim.HYPERPARAMS.values()) + (
    "model.initial_state.noise_std", "model.initial_state.value")
VALUE_PREFIXES = ("model.init.",)
# Rows of an evaluation set that go through the model at once. A fixed number,
# so what a run holds at once does not grow with the evaluation set; the
# losses are the bits one whole batch gives on the CPU (tested).
EVAL_BATCH = 64


def run_values(config) -> dict[str, float]:
  """The per-run numbers of a config: the optimizer's and the initial state's."""
  return {**optim.config_hyperparams(config.train),
          "noise_std": float(config.model.initial_state.noise_std),
          "state_value": float(config.model.initial_state.value)}


@flax.struct.dataclass
class RunState:
  """One run's training state (a pytree; the engine stacks runs on a leading axis)."""

  params: Any                     # `model.init_model`'s parameters
  opt_state: Any                  # the optimizer's state (holds the run's hyperparameters)
  carry: Any                      # [(h, c) [batch, H]] per layer: the carried state
  step: jax.Array                 # [] int32: steps trained
  diverged: jax.Array             # [] bool: diverged on some step (then frozen)
  keys: dict[str, jax.Array]      # the run's streams: init, data, dropout, noise
  values: dict[str, jax.Array]    # the run's own numbers (noise_std, state_value)


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


@dataclasses.dataclass(frozen=True, eq=False)
class Supervised:
  """The training functions of one program (one task and structure).

  Numbers that differ across runs come from `init`'s `values`, not from here.
  """

  task: Task
  model: model_lib.ModelSpec
  optimizer: optim.OptimizerSpec  # the optimizer's structure (`init` injects a run's numbers)
  tx: optax.GradientTransformation  # updates read each run's numbers from its state
  stateful: bool
  strategy: str
  batch_size: int
  curve_rows: int | None
  reset_every: int
  divergence_threshold: float
  readout_last: bool
  eval_batch: int = EVAL_BATCH  # rows evaluated at once (0: every row at once)

  @property
  def num_layers(self) -> int:
    """Layers of the LSTM stack."""
    return self.model.num_layers

  @property
  def hidden(self) -> int:
    """Width H of every layer."""
    return self.model.hidden_size

  # -- one window -----------------------------------------------------------

  def _mask(self, batch: Batch) -> jax.Array:
    if self.readout_last:
      return jnp.zeros_like(batch.mask).at[:, -1].set(batch.mask[:, -1])
    return batch.mask

  def fresh_carry(self, params, values, batch_rows, key, training):
    """The initial carry of `batch_rows` rows by the initial-state strategy
    (noise drawn from `key` when `training`): [(h, c) [rows, H]] per layer."""
    return initial_states.initial_carry(
        self.strategy, params["state"], batch_rows, self.num_layers, self.hidden, key=key,
        training=training, noise_std=values["noise_std"], value=values["state_value"])

  def _carry_at(self, rows):
    # With overlapping windows the next window starts `stride` steps after this one.
    if self.task.stride >= self.task.window:
      return None
    return jnp.full((rows,), self.task.stride)

  def window_forward(self, params, values, batch: Batch, previous, key_noise, key_drop,
                     training: bool):
    """The model on one window: (outputs [batch, time, O], final carry).

    The window starts from the initial-state strategy's carry (drawn with
    `key_noise` in training), or, in stateful mode, from `previous` (without
    gradient) in every row whose `batch.reset` is False.
    """
    rows = batch.xs.shape[0]
    carry = self.fresh_carry(params, values, rows, key_noise, training)
    if self.stateful:
      carry = carry_forward(carry, previous, batch.reset)
    return model_lib.forward(params, batch.xs, carry, self.model, key=key_drop,
                             training=training, carry_at=self._carry_at(rows))

  def window_loss(self, params, values, batch: Batch, previous, key_noise, key_drop,
                  training: bool):
    """Mean masked loss of one window, with the final carry and position sums."""
    out, final = self.window_forward(params, values, batch, previous, key_noise, key_drop,
                                     training)
    per_pos, correct = model_lib.position_losses(self.task, out, batch.ys)
    mask = self._mask(batch)
    loss = jnp.sum(per_pos * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    return loss, (final, self.window_sums(per_pos, correct, batch))

  def window_sums(self, per_pos, correct, batch: Batch) -> dict[str, jax.Array]:
    """One window's sums over its rows, by position.

    Args:
      per_pos, correct: [batch, time] loss and correctness at every position.
      batch: the window (its mask and score).

    Returns:
      {"loss", "count", "correct", "scored"}, each [time].
    """
    mask = self._mask(batch)
    return {"loss": jnp.sum(per_pos * mask, 0), "count": jnp.sum(mask, 0),
            "correct": jnp.sum(correct * batch.score, 0), "scored": jnp.sum(batch.score, 0)}

  # -- a run ----------------------------------------------------------------

  def init(self, run_keys: dict[str, jax.Array], values: dict[str, jax.Array]) -> RunState:
    """One run's initial state from its stream keys and numeric values."""
    params = model_lib.init_model(run_keys["init"], self.task, self.model,
                                  values["state_value"])
    hyper = {k: values[k] for k in optim.HYPERPARAMS}
    opt_state = optim.optimizer(self.optimizer, hyper).init(params)
    own = {k: values[k] for k in ("noise_std", "state_value")}
    carry = self.fresh_carry(params, own, self.batch_size, None, False)
    return RunState(params, opt_state, carry, jnp.zeros((), jnp.int32), jnp.zeros((), bool),
                    dict(run_keys), own)

  def train_step(self, state: RunState, data) -> tuple[RunState, jax.Array]:
    """One optimizer step on one window. Returns (state, loss; NaN once diverged)."""
    step, k = state.step, state.keys
    batch = self.task.train_batch(data, k["data"], step, self.batch_size)
    if self.stateful and self.reset_every > 0:
      window_index = step % self.task.windows_per_sequence
      batch = batch._replace(reset=batch.reset | (window_index % self.reset_every == 0))

    def loss_fn(params):
      loss, (final, _) = self.window_loss(params, state.values, batch, state.carry,
                                          jax.random.fold_in(k["noise"], step),
                                          jax.random.fold_in(k["dropout"], step), True)
      return loss, final

    (loss, final), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    # A diverged run keeps its last good parameters and carry and stops updating.
    done = apply_update(self.tx, state.params, state.opt_state, grads, loss, state.diverged,
                        threshold=self.divergence_threshold, keep=state.carry, new=final)
    new = state.replace(params=done.params, opt_state=done.opt_state, carry=done.kept,
                        step=step + 1, diverged=done.diverged)
    return new, done.loss

  def train_chunk(self, state: RunState, data, num_steps: int
                  ) -> tuple[RunState, dict[str, jax.Array]]:
    """`num_steps` train steps under `lax.scan`: (state, {"loss": [num_steps]})."""
    state, losses = jax.lax.scan(lambda s, _: self.train_step(s, data), state, None,
                                 length=num_steps)
    return state, {"loss": losses}

  def evaluate(self, state: RunState, data, split: str = "val") -> dict[str, jax.Array]:
    """Deterministic evaluation on a fixed split (the same data for every run).

    `split` is "val", "test", or "curve": the first `train.curve_rows` rows of
    the validation set (the learning curves). Windows of a row are evaluated in
    order; with stateful training the carry flows from one to the next,
    otherwise each starts from the initial state. Within a window the rows go
    through the model `eval_batch` at a time (`by_rows`), so a run holds the
    activations of one sub-batch at once; the losses and their sums are then
    taken over the whole window, as one batch would.

    Returns:
      {"loss": mean masked loss, "metric": the task's metric,
       "per_position": [window] mean loss at each position of a window}.
    """
    params, values = state.params, state.values
    windows = self.task.eval_set(data, "val" if split == "curve" else split)
    if split == "curve" and self.curve_rows is not None:
      windows = jax.tree.map(lambda a: a[:, :self.curve_rows], windows)
    rows = windows.xs.shape[1]
    start = self.fresh_carry(params, values, rows, None, False)

    def forward(batch, carry):
      return self.window_forward(params, values, batch, carry, None, None, False)

    def body(carry, batch):
      out, final = by_rows(forward, (batch, carry), self.eval_batch)
      per_pos, correct = model_lib.position_losses(self.task, out, batch.ys)
      return final, self.window_sums(per_pos, correct, batch)

    _, sums = jax.lax.scan(body, start, windows)
    total = {k: jnp.sum(v, axis=0) for k, v in sums.items()}
    loss = jnp.sum(total["loss"]) / jnp.maximum(jnp.sum(total["count"]), 1.0)
    accuracy = jnp.sum(total["correct"]) / jnp.maximum(jnp.sum(total["scored"]), 1.0)
    per_position = total["loss"] / jnp.where(total["count"] > 0, total["count"], jnp.nan)
    return {"loss": loss, "metric": self.task.metric_of(loss, accuracy),
            "per_position": per_position}


def by_rows(fn, args, size: int):
  """`fn(*args)` computed `size` rows at a time (`lax.map` over sub-batches).

  Every leaf of `args` and of `fn`'s outputs has the rows on its first axis,
  and rows are independent of each other. The rows are padded to a whole
  number of sub-batches with copies of the last row, and the padding is cut
  from the outputs, so the result has the shape `fn(*args)` has.

  Args:
    fn: (*args) -> a tree of [rows, ...] arrays.
    args: a tuple of trees of [rows, ...] arrays.
    size: rows per sub-batch (0, or at least the rows: all rows in one call).

  Returns:
    `fn`'s outputs for every row.
  """
  rows = jax.tree.leaves(args)[0].shape[0]
  if size <= 0 or rows <= size:
    return fn(*args)
  n = -(-rows // size)

  def split(a):
    a = jnp.concatenate([a, jnp.repeat(a[-1:], n * size - rows, axis=0)], axis=0)
    return a.reshape(n, size, *a.shape[1:])

  def join(a):
    return a.reshape(n * size, *a.shape[2:])[:rows]

  return jax.tree.map(join, jax.lax.map(lambda a: fn(*a), jax.tree.map(split, args)))


@functools.lru_cache(maxsize=8)
def _task(task_json: str) -> Task:
  return make_task(ml_collections.ConfigDict(json.loads(task_json)))


def task_of(config) -> Task:
  """The config's task, built once per distinct `config.task` in a process."""
  return _task(json.dumps(config.task.to_dict(), sort_keys=True))


def make_supervised(config, task: Task | None = None) -> Supervised:
  """The frozen spec of a config's training (validating it; one-line errors)."""
  c = config
  task = task if task is not None else task_of(c)
  model_lib.check_model_config(c.model)
  stateful = bool(c.train.stateful) or c.model.initial_state.strategy == "carried"
  if stateful and not task.stream:
    raise ConfigError(f"stateful training needs a task whose windows continue each other "
                      f"(windows_per_sequence > 1); task {task.name!r} has independent "
                      f"examples; valid choices: {stateful_tasks()}")
  strategy = c.model.initial_state.strategy
  opt_spec = optim.OptimizerSpec.of(c.train)
  return Supervised(
      task=task, model=model_lib.ModelSpec.of(c.model),
      optimizer=opt_spec, tx=optim.optimizer(opt_spec), stateful=stateful,
      # "carried" is stateful training whose state starts from zeros at resets.
      strategy="zeros" if strategy == "carried" else strategy,
      batch_size=int(c.train.batch_size), curve_rows=int(c.train.curve_rows) or None,
      reset_every=int(c.train.reset_every) if stateful else 0,
      divergence_threshold=float(c.train.divergence_threshold),
      readout_last=c.model.readout == "last")


def make_experiment(config, task: Task | None = None) -> Experiment:
  """The supervised LSTM experiment of `config`."""
  spec = make_supervised(config, task)
  task = spec.task
  # Resolve the initializer specs now, so bad initializer names fail here.
  if config.model.get("cell", "lstm") == "lstm":
    resolve_layer(config.model.init.preset, task.input_size, int(config.model.hidden_size),
                  model_lib.init_overrides(config.model.init))
  first_k = int(config.report_first_k) or task.first_k
  return Experiment(
      data=task.data, init=spec.init, train_chunk=spec.train_chunk, evaluate=spec.evaluate,
      values=run_values(config), value_fields=VALUE_FIELDS, value_prefixes=VALUE_PREFIXES,
      description=task.description, metric=task.metric, baseline=task.baseline,
      baseline_note=task.baseline_note, first_k=first_k,
      record={"init": model_lib.resolved_init(config, task.input_size)},
      perturb=perturb.on_params)


# ---------------------------------------------------------------------------
# The fields this experiment reads beside the task's, the model's and the optimizer's.

def _stateful(c) -> bool:
  return bool(c.train.stateful) or c.model.initial_state.strategy == "carried"


TRAIN_FIELDS = (
    fields.Field("batch_size", 32, "examples (or sequences) per step", fields.at_least(1)),
    fields.Field("stateful", False, "carry the state from window to window (truncated BPTT); "
                 "resets use the initial-state strategy"),
    fields.Field("reset_every", 0, "stateful: also reset every n windows (0 = never)",
                 fields.Valid(lambda v: v >= 0, ">= 0 (0 = never)"),
                 used_when=(_stateful, "stateful training (train.stateful=True or "
                            "model.initial_state.strategy=carried)")),
    fields.Field("divergence_threshold", 1e6, "a loss above this (or NaN/inf) marks the seed "
                 "diverged", fields.above(0)),
)
TOP_FIELDS = (
    fields.Field("report_first_k", 0, "early positions set apart in reports (0 = the task's)"),
)
