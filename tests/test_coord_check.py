"""The coordinate check against closed forms at initialization, the per-layer
learning rates against torch's parameter groups, and a standard
parametrization whose sizes grow with width under Adam."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from lstm_init.core import lstm
from lstm_init.core.presets import init_params
from lstm_init.engine.spec import base_config
from lstm_init.errors import ConfigError
from lstm_init.studies import coord_check as cc
from lstm_init.studies.parametrizations import condition_config
from lstm_init.training import optim, supervised

WIDTHS = (32, 256)   # two widths, as mup's own coord-check test (widths 1000 and 4000)
SEEDS = 16


def _config():
  c = base_config()
  c.task.name = "adding"
  c.task.length = 10
  c.train.batch_size = 16
  c.train.learning_rate = 1e-2
  c.train.clip_norm = 0.0
  c.train.base_width = 32
  return c


def test_traced_layer_is_the_lstm():
  params = init_params(jax.random.key(1), 3, 8, preset="pytorch")
  xs = jax.random.normal(jax.random.key(2), (5, 7, 3))
  ys, _ = lstm.apply(params, xs, impl="scan")
  h0 = jnp.zeros((5, 8))
  hs, sizes = cc.layer_trace(params[0], jnp.swapaxes(xs, 0, 1), h0, h0)
  np.testing.assert_allclose(np.swapaxes(hs, 0, 1), ys, atol=1e-6)
  np.testing.assert_allclose(sizes["h"], np.sqrt(np.mean(np.square(ys), axis=(0, 2))), rtol=1e-5)
  z1 = xs[:, 0] @ params[0]["W_x"] + params[0]["b"]  # the first step: h0 = 0
  np.testing.assert_allclose(sizes["preactivation"][0], np.sqrt(np.mean(z1 ** 2)), rtol=1e-5)
  assert float(sizes["recurrent_projection"][0]) == 0.0


# Closed forms at initialization, input size I = 2 (the adding problem):
# Var(W_x) per entry, and the recurrent gain^2 = H Var(W_h) = RMS^2(h W_h) / RMS^2(h)
# for h independent of W_h (h after the first step depends on W_x and b only).
VAR_X = {"pytorch": lambda h: 1 / (3 * h),            # U(+-1/sqrt(H)): limit^2 / 3
         "keras": lambda h: 2 / (2 + 4 * h),          # glorot_uniform on (I, 4H)
         "mup": lambda h: 1 / 2}                      # lecun_normal: 1 / fan_in
GAIN2 = {"pytorch": 1 / 3,   # U(+-1/sqrt(H)) on (H, 4H): H / (3H)
         "keras": 1 / 4,     # orthogonal (H, 4H): orthonormal rows, |h W|^2 = |h|^2 over 4H
         "mup": 1.0}         # lecun_normal on (H, 4H): H / H


@pytest.fixture(scope="module")
def at_init():
  c = _config()
  frame = cc.coord_data(c, list(VAR_X), list(WIDTHS), steps=(0,), seeds=SEEDS, at="1,2")
  task = supervised.make_supervised(condition_config(c, "keras", 32)).task
  x1 = np.asarray(task.eval_set(task.data, "val").xs[0, :16, 0])  # the probe's first step
  return frame, float(np.mean(np.sum(x1 ** 2, axis=-1)))


def _per_seed(frame, condition, quantity, position):
  f = frame[(frame.condition == condition) & (frame.quantity == quantity)
            & (frame.position == position)]
  return {w: f[f.width == w].sort_values("seed").rms.to_numpy() for w in WIDTHS}


@pytest.mark.parametrize("condition", list(VAR_X))
def test_input_projection_at_init_matches_its_closed_form(at_init, condition):
  # E RMS^2(x W_x) = mean_b |x_b|^2 Var(W_x), exactly in expectation over the
  # draw; checked per width within 4 standard errors of the seeds' mean, and
  # the log-log slope within 0.03 of the closed form's (pytorch: -1/2; keras'
  # glorot: -(1/2) 4H / (I + 4H) between the widths; mup: 0).
  frame, x2 = at_init
  got = _per_seed(frame, condition, "input_projection", 1)
  for w in WIDTHS:
    sq = got[w] ** 2
    expected = x2 * VAR_X[condition](w)
    assert abs(sq.mean() - expected) < 4 * sq.std(ddof=1) / math.sqrt(SEEDS) + 1e-7, (w, sq.mean(),
                                                                                   expected)
    assert abs(sq.mean() / expected - 1) < 0.1
  lw = np.log(WIDTHS)
  slope = np.diff(0.5 * np.log([np.mean(got[w] ** 2) for w in WIDTHS])) / np.diff(lw)
  closed = np.diff(0.5 * np.log([VAR_X[condition](w) for w in WIDTHS])) / np.diff(lw)
  assert abs(slope[0] - closed[0]) < 0.03, (slope, closed)
  table = cc.slopes(frame)
  row = table[(table.condition == condition) & (table.quantity == "input_projection")
              & (table.position == 1)]
  assert abs(row.slope.iloc[0] - closed[0]) < 0.03  # the study's own slope (mean RMS)


@pytest.mark.parametrize("condition", list(GAIN2))
def test_recurrent_projection_gain_at_init_is_width_independent(at_init, condition):
  # RMS(h_1 W_h) / RMS(h_1) at position 2: sqrt(H Var(W_h)), a constant of the
  # width (width^0) for U(+-1/sqrt(H)), orthogonal and 1/fan_in alike; so the
  # projection's own slope is h's slope plus 0.
  frame, _ = at_init
  proj = _per_seed(frame, condition, "recurrent_projection", 2)
  h1 = _per_seed(frame, condition, "h", 1)
  ratios = {w: (proj[w] / h1[w]) ** 2 for w in WIDTHS}
  for w in WIDTHS:
    r = ratios[w]
    assert abs(r.mean() - GAIN2[condition]) < 4 * r.std(ddof=1) / math.sqrt(SEEDS) + 1e-5, (
        w, r.mean())
  if condition == "keras":  # orthonormal rows: exact for every draw
    np.testing.assert_allclose(np.concatenate(list(ratios.values())), 0.25, rtol=1e-4)
  lw = np.diff(np.log(WIDTHS))[0]
  slope_proj = np.diff(np.log([proj[w].mean() for w in WIDTHS]))[0] / lw
  slope_h = np.diff(np.log([h1[w].mean() for w in WIDTHS]))[0] / lw
  assert abs(slope_proj - slope_h) < 0.05, (slope_proj, slope_h)


def test_adam_in_the_standard_parametrization_is_not_flat():
  # flax.linen's initialization has the muP preset's variances, but one
  # learning rate for every weight: after one Adam step (every entry moves by
  # lr, correlated with the activations) the readout grows about linearly with
  # width and the recurrent projection with it: the coordinate check's failure
  # that the muP preset passes (tests/test_width.py). Measured at widths 32 and
  # 256: readout slope 1.13, recurrent projection 0.53.
  table = cc.slopes(cc.coord_data(_config(), ["flax_linen"], list(WIDTHS), steps=(0, 1),
                                  seeds=2, at="-1"))
  slope = lambda step, q: table[(table.step == step) & (table.quantity == q)].slope.iloc[0]
  assert abs(slope(0, "recurrent_projection")) < 0.13
  assert slope(1, "readout") > 0.8
  assert slope(1, "recurrent_projection") > 0.3
  assert slope(1, "update:readout.W") == pytest.approx(0.0, abs=1e-3)  # lr x 1 everywhere


def _tree(rng):
  p = lambda *s: rng.normal(size=s).astype(np.float32)
  return {"lstm": [{"W_x": p(2, 12), "W_h": p(3, 12), "b": p(12)},
                   {"W_x": p(3, 12), "W_h": p(3, 12), "b": p(12)}],
          "readout": {"W": p(3, 2), "b": p(2)}, "state": [{"h0": p(3), "c0": p(3)}]}


@pytest.mark.parametrize("name,state", [("adam", "none"), ("adamw", "width")])
def test_mup_learning_rates_equal_torch_parameter_groups(name, state):
  # mup's MuAdam (decoupled_wd=True) is torch's Adam with a parameter group per
  # multiplier: W_h, deeper W_x and the readout W at lr x base / fan_in.
  base, lr, wd = 6, 0.05, 0.1
  tcfg = base_config().train
  tcfg.optimizer, tcfg.learning_rate, tcfg.weight_decay, tcfg.clip_norm = name, lr, wd, 0.0
  tcfg.lr_scaling, tcfg.base_width, tcfg.state_lr_scaling = "mup", base, state
  spec = optim.OptimizerSpec.of(tcfg)
  rng = np.random.default_rng(0)
  start, target = _tree(rng), _tree(rng)
  loss = lambda p: sum(jnp.sum((a - b) ** 2 * (1 + a)) for a, b in
                       zip(jax.tree.leaves(p), jax.tree.leaves(target)))
  tx = optim.optimizer(spec)

  @jax.jit  # one program for the 20 steps (eagerly, every operation compiles on its own)
  def steps(params):
    def step(carry, _):
      params, state_ = carry
      updates, state_ = tx.update(jax.grad(loss)(params), state_, params)
      return (optax.apply_updates(params, updates), state_), None
    return jax.lax.scan(step, (params, tx.init(params)), length=20)[0][0]

  params = steps(jax.tree.map(jnp.asarray, start))
  mult = {"lstm.0.W_h": base / 3, "lstm.1.W_h": base / 3, "lstm.1.W_x": base / 3,
          "readout.W": base / 3}
  if state == "width":
    mult.update({"state.0.h0": base / 3, "state.0.c0": base / 3})
  flat, _ = jax.tree_util.tree_flatten_with_path(start)
  names = [".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path) for path, _ in flat]
  tensors = [torch.tensor(v, requires_grad=True) for _, v in flat]
  groups = [{"params": [t], "lr": lr * mult.get(n, 1.0)} for n, t in zip(names, tensors)]
  opt = (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(groups, lr=lr, weight_decay=wd)
  targets = [torch.tensor(v) for v in jax.tree.leaves(target)]
  for _ in range(20):
    opt.zero_grad()
    sum(torch.sum((a - b) ** 2 * (1 + a)) for a, b in zip(tensors, targets)).backward()
    opt.step()
  ours = [np.asarray(v) for v in jax.tree.leaves(params)]
  for n, a, t in zip(names, ours, tensors):
    np.testing.assert_allclose(a, t.detach().numpy(), rtol=2e-4, atol=2e-5, err_msg=n)


def test_lr_multipliers_are_one_without_mup_and_bad_settings_are_one_line():
  tcfg = base_config().train
  spec = optim.OptimizerSpec.of(tcfg)
  path = jax.tree_util.tree_flatten_with_path({"lstm": [{"W_h": 0}]})[0][0][0]
  assert optim.lr_multiplier(path, (64, 256), spec) == 1.0
  tcfg.lr_scaling = "mup"
  assert optim.lr_multiplier(path, (64, 256), optim.OptimizerSpec.of(tcfg)) == 0.5
  for field, value, words in (("lr_scaling", "mu", "valid choices: mup, none"),
                              ("state_lr_scaling", "fan_in", "valid choices: none, width")):
    bad = base_config().train
    bad[field] = value
    with pytest.raises(ConfigError, match=words):
      optim.OptimizerSpec.of(bad)
  sgd = base_config().train
  sgd.optimizer, sgd.lr_scaling = "sgd", "mup"
  with pytest.raises(ConfigError, match="valid optimizers with it: adam, adamw, rmsprop"):
    optim.OptimizerSpec.of(sgd)
