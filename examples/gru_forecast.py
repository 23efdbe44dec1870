"""Your own model in a seed sweep: a Flax GRU forecasting a CSV of your own.

  python -m experiments.seed_sweep --config=examples/gru_forecast.py
  python -m experiments.seed_sweep --config=examples/gru_forecast.py \
      --config.task.path=my_series.csv --config.task.column=2 --config.num_seeds=64

This file is both the config (`get_config`) and the experiment
(`make_experiment`, named by `config.experiment`). The sweep gives it what it
gives the built-in LSTM: seeds vmapped in one program, chunks that fit in
memory, sharding over devices, checkpoints and exact resume, results.csv,
curves and the report. The data is `examples/data/hourly_load.csv` (hourly
load with daily and weekly cycles), read by the project's windowed forecast
task; point `task.path` at your own file.

An experiment is three pure functions of one run (see lstm_init.training.experiment):
  init(run_keys, values) -> state
  train_chunk(state, data, n) -> (state, {"loss": [n]})
  evaluate(state, data, split) -> {"loss", "metric"}
"""

import os

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lstm_init.engine.spec import base_config
from lstm_init.training.experiment import Experiment
from lstm_init.training.step import apply_update
from lstm_init.core.presets import orthogonal
from lstm_init.training.tasks import make_task

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hourly_load.csv")


def get_config():
  c = base_config()
  c.name = "gru_forecast"
  c.experiment = "examples.gru_forecast:make_experiment"
  c.num_seeds = 16
  c.sweep = ("train.learning_rate=0.003,0.01",)
  c.task.name, c.task.series, c.task.path, c.task.column = "forecast", "file", DATA, 1
  c.task.window, c.task.overlap, c.task.target = 48, 0.5, "last"
  c.train.steps = 300
  c.gru = ml_collections.ConfigDict({"hidden_size": 32})
  return c


class GRUForecaster(nn.Module):
  hidden_size: int

  @nn.compact
  def __call__(self, xs):  # [batch, time, 1] -> [batch, time, 1]
    # lstm_init's orthogonal draw: no LAPACK call inside vmapped programs.
    cell = nn.GRUCell(self.hidden_size, recurrent_kernel_init=orthogonal())
    return nn.Dense(1)(nn.RNN(cell)(xs))


@flax.struct.dataclass
class State:
  params: dict
  opt_state: optax.OptState
  step: jax.Array
  diverged: jax.Array
  keys: dict


def make_experiment(config) -> Experiment:
  task = make_task(config.task)
  model = GRUForecaster(int(config.gru.hidden_size))
  # The learning rate is a per-run value, so both rates train in one program.
  make_tx = optax.inject_hyperparams(optax.adam)
  tx = make_tx(learning_rate=float(config.train.learning_rate))
  batch_size = int(config.train.batch_size)
  curve_rows = int(config.train.curve_rows) or None
  threshold = float(config.train.divergence_threshold)

  def window_loss(params, batch):
    out = model.apply({"params": params}, batch.xs)
    per_pos = jnp.sum((out - batch.ys) ** 2, axis=-1)
    return jnp.sum(per_pos * batch.mask) / jnp.maximum(jnp.sum(batch.mask), 1.0)

  def init(keys, values):
    xs = jnp.zeros((1, task.window, task.input_size))
    params = model.init(keys["init"], xs)["params"]
    opt_state = make_tx(learning_rate=values["learning_rate"]).init(params)
    return State(params, opt_state, jnp.zeros((), jnp.int32), jnp.zeros((), bool), keys)

  def step(state, data):
    batch = task.train_batch(data, state.keys["data"], state.step, batch_size)
    loss, grads = jax.value_and_grad(window_loss)(state.params, batch)
    # The project's update step: a non-finite or exploding loss or gradient marks
    # the run diverged, and it keeps its last good parameters.
    done = apply_update(tx, state.params, state.opt_state, grads, loss, state.diverged,
                        threshold=threshold)
    new = state.replace(params=done.params, opt_state=done.opt_state, step=state.step + 1,
                        diverged=done.diverged)
    return new, done.loss

  def train_chunk(state, data, n):
    state, losses = jax.lax.scan(lambda s, _: step(s, data), state, None, length=n)
    return state, {"loss": losses}

  def evaluate(state, data, split):
    windows = task.eval_set(data, "val" if split == "curve" else split)
    if split == "curve":  # the learning curves' cheaper validation
      windows = jax.tree.map(lambda a: a[:, :curve_rows], windows)
    losses = jax.lax.map(lambda b: window_loss(state.params, b), windows)
    loss = jnp.mean(losses)
    return {"loss": loss, "metric": 1.0 - loss / task.baseline}

  return Experiment(
      data=task.data, init=init, train_chunk=train_chunk, evaluate=evaluate,
      values={"learning_rate": float(config.train.learning_rate)},
      value_fields=("train.learning_rate",),
      reads=("task.", "train.learning_rate", "train.batch_size", "gru."),
      description=f"GRU on {task.description}", metric="r2", baseline=task.baseline,
      baseline_note=task.baseline_note)
