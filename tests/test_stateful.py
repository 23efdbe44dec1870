"""Stateful training: exact continuation, truncated gradients, resets, initial states."""

from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init.core import keys
from lstm_init.training import model as model_lib, supervised
from tests.helpers import tiny_config


def recall_config(strategy="carried", overlap=0.0, **train_kw):
  c = tiny_config(name="delayed_recall", delay=3, window=8, windows_per_sequence=4,
                  overlap=overlap, symbols=5, eval_rows=4)
  c.model.initial_state.strategy = strategy
  for k, v in train_kw.items():
    c.train[k] = v
  return c


def one_run(cfg, n=1):
  trainer = supervised.make_supervised(cfg)
  k = keys.run_keys(keys.root_key(0), jnp.arange(n))
  values = {name: jnp.full((n,), v) for name, v in supervised.run_values(cfg).items()}
  state = jax.jit(jax.vmap(trainer.init))(k, values)
  return trainer, jax.tree.map(lambda a: a[0], state) if n == 1 else state


@pytest.mark.parametrize("overlap", [0.0, 0.5])
def test_stateful_windows_reproduce_one_pass_over_the_sequence(overlap):
  trainer, state = one_run(recall_config(overlap=overlap))
  params, values = state.params, state.values
  windows = [trainer.task.train_batch(trainer.task.data, state.keys["data"], s, 3)
             for s in range(4)]
  stride = trainer.task.stride
  carry, outs = None, []
  for w in windows:
    prev = carry if carry is not None else trainer.fresh_carry(params, values, 3, None, False)
    out, carry = trainer.window_forward(params, values, w, prev, None, None, False)
    outs.append(out if not outs else out[:, 8 - stride:])
  pieces = np.concatenate(outs, axis=1)
  full_xs = jnp.concatenate([windows[0].xs] + [w.xs[:, 8 - stride:] for w in windows[1:]], 1)
  ref, _ = model_lib.forward(params, full_xs, None, trainer.model)
  np.testing.assert_allclose(pieces, ref, atol=2e-6)
  if overlap == 0.0:  # a stateless window differs from the continued one
    out1, _ = trainer.window_forward(params, values, windows[1]._replace(
        reset=jnp.ones(3, bool)), carry, None, None, False)
    assert float(jnp.abs(out1 - ref[:, 8:16]).max()) > 1e-3


def test_no_gradient_crosses_a_window_boundary():
  trainer, state = one_run(recall_config())
  params, values = state.params, state.values
  w0 = trainer.task.train_batch(trainer.task.data, state.keys["data"], 0, 3)
  w1 = trainer.task.train_batch(trainer.task.data, state.keys["data"], 1, 3)

  def second_window_loss(xs0):
    _, carry = trainer.window_forward(params, values, w0._replace(xs=xs0), None, None, None,
                                      False)
    loss, _ = trainer.window_loss(params, values, w1, carry, None, None, False)
    return loss

  g = jax.grad(second_window_loss)(w0.xs)
  np.testing.assert_array_equal(g, 0.0)
  # ... while the value does depend on the previous window (the state is carried)
  assert abs(float(second_window_loss(w0.xs)) - float(second_window_loss(w0.xs * 0))) > 1e-4


def test_reset_at_sequence_start_and_by_mask():
  fresh = [(jnp.zeros((3, 2)), jnp.zeros((3, 2)))]
  prev = [(jnp.ones((3, 2)), 2 * jnp.ones((3, 2)))]
  out = supervised.carry_forward(fresh, prev, jnp.array([True, False, True]))
  np.testing.assert_array_equal(out[0][0][:, 0], [0, 1, 0])
  np.testing.assert_array_equal(out[0][1][:, 0], [0, 2, 0])
  # In training: the task marks the first window of each sequence; reset_every adds more.
  for every, expect in ((0, [True, False, False, False, True]),
                        (2, [True, False, True, False, True])):
    trainer, state = one_run(recall_config(reset_every=every))
    seen = []

    class Seen(Exception):
      pass

    def spy(self, params, values, batch, *a, **k):  # the window the step trains on
      seen.append(batch.reset)
      raise Seen

    with mock.patch.object(supervised.Supervised, "window_loss", spy):
      for step in range(5):
        with pytest.raises(Seen):
          trainer.train_step(state.replace(step=jnp.asarray(step, state.step.dtype)),
                             trainer.task.data)
    assert [bool(r[0]) for r in seen] == expect


@pytest.mark.parametrize("strategy, stateful, continues", [
    ("zeros", False, False), ("carried", False, True), ("learned", False, False),
    ("learned", True, True)])
def test_previous_state_is_continued_only_in_stateful_mode(strategy, stateful, continues):
  trainer, state = one_run(recall_config(strategy, stateful=stateful))
  params, values = state.params, state.values
  params = dict(params, state=jax.tree.map(lambda a: a + 0.3, params["state"]))
  w0, w1 = (trainer.task.train_batch(trainer.task.data, state.keys["data"], s, 3)
            for s in (0, 1))
  _, carry = trainer.window_forward(params, values, w0, None, None, None, False)
  fresh = trainer.fresh_carry(params, values, 3, None, False)
  from_fresh, _ = model_lib.forward(params, w1.xs, fresh, trainer.model)
  from_carry, _ = model_lib.forward(params, w1.xs, carry, trainer.model)
  assert float(jnp.abs(from_fresh - from_carry).max()) > 1e-3
  # Row 0 starts a sequence (reset); rows 1 and 2 continue the previous window.
  out, _ = trainer.window_forward(params, values, w1._replace(
      reset=jnp.array([True, False, False])), carry, None, None, False)
  np.testing.assert_allclose(out[0], from_fresh[0], atol=1e-6)
  np.testing.assert_allclose(out[1:], (from_carry if continues else from_fresh)[1:], atol=1e-6)


def test_noise_per_seed_differs_and_repeats():
  cfg = recall_config("noisy")
  cfg.model.initial_state.noise_std = 0.5
  trainer, state = one_run(cfg, n=2)
  carries = []
  for run in range(2):
    s = jax.tree.map(lambda a: a[run], state)
    key = jax.random.fold_in(s.keys["noise"], 0)
    carries.append(trainer.fresh_carry(s.params, s.values, 4, key, True)[0][0])
  again = trainer.fresh_carry(jax.tree.map(lambda a: a[0], state).params,
                               jax.tree.map(lambda a: a[0], state).values, 4,
                               jax.random.fold_in(jax.tree.map(lambda a: a[0], state).keys["noise"], 0),
                               True)[0][0]
  np.testing.assert_array_equal(carries[0], again)
  assert not np.allclose(carries[0], carries[1])
  assert 0.3 < float(jnp.std(carries[0])) < 0.7


def test_learned_initial_state_receives_gradients():
  trainer, state = one_run(recall_config("learned"))
  batch = trainer.task.train_batch(trainer.task.data, state.keys["data"], 0, 3)

  def loss(params):
    return trainer.window_loss(params, state.values, batch, None, None, None, True)[0]

  g = jax.grad(loss)(state.params)
  assert float(jnp.abs(g["state"][0]["h0"]).max()) > 0
  assert float(jnp.abs(g["state"][0]["c0"]).max()) > 0
  # In stateful mode a window that continues the previous one does not train h0.
  trainer_s, state_s = one_run(recall_config("learned", stateful=True))
  cont = batch._replace(reset=jnp.zeros(3, bool))
  prev = trainer_s.fresh_carry(state_s.params, state_s.values, 3, None, False)
  g = jax.grad(lambda p: trainer_s.window_loss(p, state_s.values, cont, prev, None, None,
                                               True)[0])(state_s.params)
  np.testing.assert_array_equal(g["state"][0]["h0"], 0.0)


def test_per_timestep_loss_is_recorded_per_position():
  trainer, state = one_run(recall_config("zeros"))
  params = state.params
  ev = trainer.evaluate(state, trainer.task.data, "val")
  pp = np.asarray(ev["per_position"])
  # Independently: every evaluation window from zeros, log-softmax in NumPy,
  # the cross-entropy averaged over rows and windows at each position.
  windows = trainer.task.eval_set(trainer.task.data, "val")
  nll, count = np.zeros(8), np.zeros(8)
  for w in range(windows.xs.shape[0]):
    out, _ = model_lib.forward(params, windows.xs[w], None, trainer.model)
    out = np.asarray(out, np.float64)
    logp = out - out.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    ys, mask = np.asarray(windows.ys[w]), np.asarray(windows.mask[w])
    picked = -np.take_along_axis(logp, ys[..., None], -1)[..., 0]
    nll += (picked * mask).sum(0)
    count += mask.sum(0)
  np.testing.assert_allclose(pp, nll / count, rtol=1e-5)
  # With a zero readout every logit is 0: the loss is log 5 at every position.
  zero = dict(params, readout=jax.tree.map(jnp.zeros_like, params["readout"]))
  pz = np.asarray(trainer.evaluate(state.replace(params=zero), trainer.task.data,
                                   "val")["per_position"])
  np.testing.assert_allclose(pz, np.log(5), rtol=1e-6)
