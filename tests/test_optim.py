"""The optimizer chain against torch.optim, and per-run hyperparameters under vmap."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import torch

from lstm_init.training import optim
from lstm_init.engine.spec import plan as plan_lib
from tests.helpers import tiny_config

STEPS = 25


def _train_cfg(name, **kw):
  c = ml_collections.ConfigDict({"optimizer": name, "learning_rate": 0.05, "weight_decay": 0.1,
                                 "clip_norm": 0.0, "momentum": 0.9, "schedule": "constant",
                                 "steps": STEPS, "decay_steps": 10, "decay_rate": 0.5,
                                 "warmup_steps": 0})
  c.update(kw)
  return c


def _problem():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(6, 6)).astype(np.float32)
  target = rng.normal(size=(6,)).astype(np.float32)
  w0 = rng.normal(size=(6,)).astype(np.float32)
  return a, target, w0


def _ours(tcfg):
  a, target, w0 = _problem()
  loss = lambda w: 0.5 * jnp.sum((a @ w - target) ** 2)
  tx = optim.optimizer(optim.OptimizerSpec.of(tcfg))
  w, state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
  for _ in range(STEPS):
    updates, state = tx.update(jax.grad(loss)(w), state, w)
    w = optax.apply_updates(w, updates)
  return np.asarray(w)


def _torch(tcfg):
  a, target, w0 = _problem()
  w = torch.tensor(w0, requires_grad=True)
  lr, wd = tcfg.learning_rate, tcfg.weight_decay
  opt = {"adam": lambda: torch.optim.Adam([w], lr=lr, weight_decay=wd),
         "adamw": lambda: torch.optim.AdamW([w], lr=lr, weight_decay=wd),
         "sgd": lambda: torch.optim.SGD([w], lr=lr, momentum=tcfg.momentum,
                                        weight_decay=wd)}[tcfg.optimizer]()
  for _ in range(STEPS):
    opt.zero_grad()
    loss = 0.5 * torch.sum((torch.tensor(a) @ w - torch.tensor(target)) ** 2)
    loss.backward()
    if tcfg.clip_norm > 0:
      torch.nn.utils.clip_grad_norm_([w], tcfg.clip_norm)
    opt.step()
  return w.detach().numpy()


@pytest.mark.parametrize("name, clip", [("adam", 0.0), ("adamw", 0.0), ("sgd", 0.0),
                                        ("adam", 0.5), ("sgd", 0.5)])
def test_optimizers_match_torch_with_weight_decay_and_clipping(name, clip):
  tcfg = _train_cfg(name, clip_norm=clip, learning_rate=0.05 if name != "sgd" else 0.01)
  ours, ref = _ours(tcfg), _torch(tcfg)
  # float32 on both sides; torch divides by (norm + 1e-6) when clipping.
  np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=2e-5)


def test_adamw_decouples_weight_decay_from_adam():
  adam, adamw = _ours(_train_cfg("adam")), _ours(_train_cfg("adamw"))
  no_decay = _ours(_train_cfg("adam", weight_decay=0.0))
  assert np.abs(adam - adamw).max() > 1e-3
  # Without decay the two are the same optimizer.
  np.testing.assert_allclose(_ours(_train_cfg("adamw", weight_decay=0.0)), no_decay, rtol=1e-6)


def test_hyperparameters_are_per_run_values_under_vmap():
  a, target, w0 = _problem()
  loss = lambda w: 0.5 * jnp.sum((a @ w - target) ** 2)
  tcfg = _train_cfg("sgd")
  hyper = {"learning_rate": jnp.array([0.01, 0.02, 0.005]),
           "weight_decay": jnp.array([0.0, 0.1, 0.3]),
           "clip_norm": jnp.array([0.0, 0.5, 2.0]), "momentum": jnp.array([0.0, 0.5, 0.9])}

  def run(h):
    tx = optim.optimizer(optim.OptimizerSpec.of(tcfg), h)
    w, state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
    for _ in range(STEPS):
      updates, state = tx.update(jax.grad(loss)(w), state, w)
      w = optax.apply_updates(w, updates)
    return w

  together = jax.jit(jax.vmap(run))(hyper)
  for i in range(3):
    alone = _ours(_train_cfg("sgd", **{k: float(v[i]) for k, v in hyper.items()}))
    np.testing.assert_allclose(together[i], alone, rtol=1e-5, atol=1e-6)
  assert len({round(float(x), 4) for x in together[:, 0]}) == 3


def test_conditions_differing_in_optimizer_numbers_share_one_program():
  cfg = tiny_config()
  cfg.train.optimizer = "sgd"
  plan = plan_lib.plan_sweep(cfg, ["train.momentum=0.0,0.9", "train.weight_decay=0,0.01",
                                   "train.clip_norm=0,1"])
  assert len(plan.conditions) == 8 and len(plan.groups) == 1
