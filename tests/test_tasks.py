"""Task generators: shapes, determinism and each documented baseline."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.engine.spec import base_config
from lstm_init.training.tasks import make_task
from lstm_init.training.tasks.forecast import mackey_glass


def task_cfg(**kw):
  c = base_config().task
  c.eval_size = 64
  for k, v in kw.items():
    c[k] = v
  return c


def batch(task, step=0, b=16, key=jax.random.key(1)):
  return jax.jit(task.train_batch, static_argnums=3)(task.data, key, step, b)


def test_adding_shapes_targets_and_baseline():
  t = make_task(task_cfg(name="adding", length=12))
  bt = batch(t, b=4000)
  assert bt.xs.shape == (4000, 12, 2) and bt.ys.shape == (4000, 12, 1)
  np.testing.assert_array_equal(bt.xs[..., 1].sum(1), 2.0)
  target = (bt.xs[..., 0] * bt.xs[..., 1]).sum(1)
  np.testing.assert_allclose(bt.ys[:, -1, 0], target, rtol=1e-6)
  np.testing.assert_array_equal(bt.mask.sum(1), 1.0)
  # predicting 1.0: MSE = Var(U1 + U2) = 1/6; 4000 draws, standard error ~0.003
  assert abs(float(jnp.mean((target - 1.0) ** 2)) - t.baseline) < 0.012
  again = batch(t, b=4000)
  np.testing.assert_array_equal(bt.xs, again.xs)
  assert not np.allclose(batch(t, step=1, b=4000).xs, bt.xs)


def test_copy_structure_and_memoryless_baseline():
  delay = 15
  t = make_task(task_cfg(name="copy", delay=delay))
  bt = batch(t, b=64)
  tokens = np.asarray(bt.xs.argmax(-1))
  ys = np.asarray(bt.ys)
  assert bt.xs.shape == (64, delay + 20, 10)
  np.testing.assert_array_equal(tokens[:, delay + 9], 9)
  np.testing.assert_array_equal(ys[:, -10:], tokens[:, :10])
  assert (ys[:, :-10] == 0).all() and ((tokens[:, :10] >= 1) & (tokens[:, :10] <= 8)).all()
  # The memoryless predictor: blank with certainty, then uniform over 1..8 at recall.
  logp = np.full(ys.shape + (10,), -np.inf)
  logp[:, :-10, 0] = 0.0
  logp[:, -10:, 1:9] = -math.log(8)
  nll = -np.take_along_axis(logp, ys[..., None], -1)[..., 0]
  assert abs(nll.mean() - t.baseline) < 1e-9
  np.testing.assert_array_equal(np.asarray(bt.score).sum(1), 10)


@pytest.mark.parametrize("overlap", [0.0, 0.5])
def test_delayed_recall_windows_continue_each_other(overlap):
  d, w, k = 5, 12, 4
  t = make_task(task_cfg(name="delayed_recall", delay=d, window=w, windows_per_sequence=k,
                         overlap=overlap, symbols=6))
  stride = t.stride
  assert stride == (w if overlap == 0 else 6)
  wins = [batch(t, step=s, b=3) for s in range(k)]
  assert bool(wins[0].reset.all()) and not bool(wins[1].reset.any())
  seq = np.concatenate([np.asarray(wins[0].xs.argmax(-1))]
                       + [np.asarray(x.xs.argmax(-1))[:, w - stride:] for x in wins[1:]], axis=1)
  tgt = np.concatenate([np.asarray(wins[0].ys)]
                       + [np.asarray(x.ys)[:, w - stride:] for x in wins[1:]], axis=1)
  np.testing.assert_array_equal(tgt[:, d:], seq[:, :-d])  # y_t = x_(t-d) across windows
  np.testing.assert_array_equal(np.asarray(wins[0].mask)[:, :d], 0.0)
  np.testing.assert_array_equal(np.asarray(wins[1].mask), 1.0)
  nxt = batch(t, step=k, b=3)  # a new epoch: new streams, reset
  assert bool(nxt.reset.all()) and not np.array_equal(nxt.xs, wins[0].xs)
  ev = t.eval_set(t.data, "val")
  assert ev.xs.ndim == 4 and bool(ev.reset[0].all()) and not bool(ev.reset[1:].any())
  assert abs(t.baseline - math.log(6)) < 1e-12


def test_digits_splits_and_shapes():
  t = make_task(task_cfg(name="digits", mode="pixel", eval_size=200))
  assert (t.input_size, t.window) == (1, 64)
  bt = batch(t, b=32)
  assert bt.xs.shape == (32, 64, 1) and float(bt.xs.max()) <= 1.0
  assert set(np.asarray(bt.ys[:, -1]).tolist()) <= set(range(10))
  val, test = t.eval_set(t.data, "val"), t.eval_set(t.data, "test")
  assert val.xs.shape[1] == 200 and test.xs.shape[1] == 200
  assert t.data["train_x"].shape[0] == 1797 - 400
  flat = lambda a: {tuple(np.asarray(r).ravel().round(4)) for r in a}
  assert not flat(val.xs[0]) & flat(test.xs[0])
  rows = make_task(task_cfg(name="digits", mode="row", permuted=True, eval_size=200))
  assert rows.eval_set(rows.data, "val").xs.shape == (1, 200, 8, 8)
  # the permuted images hold the same pixels in another order
  np.testing.assert_allclose(np.sort(np.asarray(rows.data["val"].xs).reshape(200, 64), 1),
                             np.sort(np.asarray(val.xs).reshape(200, 64), 1))


def test_forecast_windows_targets_and_split(tmp_path):
  series = np.sin(np.arange(1000) / 7.0).astype(np.float32) * 3 + 10
  path = os.path.join(tmp_path, "s.npy")
  np.save(path, series)
  t = make_task(task_cfg(name="forecast", series="file", path=path, window=95, overlap=0.5,
                         split="0.7,0.15,0.15"))
  assert t.stride == 48
  z = (series - series[:700].mean()) / (series[:700].std() + 1e-8)
  np.testing.assert_allclose(t.data["train"], z[:700], atol=1e-5)
  val = t.eval_set(t.data, "val")
  # window i of val covers z[700 + 48 i : +95]; its target is the next value
  np.testing.assert_allclose(val.xs[0, 1, :, 0], z[748:843], atol=1e-5)
  np.testing.assert_allclose(val.ys[0, 1, -1, 0], z[843], atol=1e-5)
  csv = os.path.join(tmp_path, "s.csv")
  np.savetxt(csv, np.stack([np.arange(1000), series], 1), delimiter=",", header="t,value")
  t2 = make_task(task_cfg(name="forecast", series="file", path=csv, column=1, window=95))
  np.testing.assert_allclose(t2.data["train"], z[:700], atol=1e-4)
  stream = make_task(task_cfg(name="forecast", series="noisy_sines", window=20, stream=True,
                              target="all", windows_per_sequence=5))
  b0, b1 = batch(stream, 0, 2), batch(stream, 1, 2)
  np.testing.assert_allclose(b0.ys[:, :-1, 0], b0.xs[:, 1:, 0])  # next value at every step
  np.testing.assert_allclose(b1.xs[:, 0, 0], b0.ys[:, -1, 0])    # windows continue


def test_mackey_glass_is_the_usual_attractor():
  x = mackey_glass(2000)
  assert 0.2 < x.min() < 0.5 and 1.2 < x.max() < 1.4
  assert np.std(x) > 0.15  # not a fixed point


def test_char_lm_next_character_targets():
  t = make_task(task_cfg(name="char_lm", window=30, windows_per_sequence=3, max_chars=50_000))
  bt = batch(t, b=4)
  tokens = np.asarray(bt.xs.argmax(-1))
  np.testing.assert_array_equal(np.asarray(bt.ys)[:, :-1], tokens[:, 1:])
  nxt = batch(t, 1, 4)
  np.testing.assert_array_equal(np.asarray(nxt.xs.argmax(-1))[:, 0], np.asarray(bt.ys)[:, -1])
  assert t.metric == "bpc" and abs(t.baseline - math.log(t.output_size)) < 1e-12


@pytest.mark.parametrize("kw,match", [
    (dict(name="addition"), "unknown task 'addition'; valid choices: adding, char_lm"),
    (dict(name="digits", mode="col"), "unknown digits mode 'col'; valid choices: pixel, row"),
    (dict(name="forecast", series="file", path="/nonexistent.csv"), "is not a file"),
    (dict(name="forecast", overlap=1.0), "overlap must be in"),
    (dict(name="adding", length=1), "task.length must be >= 2"),
])
def test_bad_task_settings(kw, match):
  with pytest.raises(ConfigError, match=match):
    make_task(task_cfg(**kw))
