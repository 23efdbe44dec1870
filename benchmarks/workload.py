"""The benchmark workloads, shared by throughput.py and scaling.py.

One LSTM layer plus a linear readout on the last step, MSE, Adam (lr 1e-3),
the same fixed batch every step, float32:
  reference  input 8, hidden 128, length 100, batch 32
  small      input 2, hidden 32, length 100, batch 16
`make_train` is the lstm_init side (a pure `train(key)`), `torch_seconds` the
same training as a PyTorch user writes it, one seed after another.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lstm_init import init_params
from lstm_init.engine.execute import placement, seed_group
from lstm_init.engine.runtime import processes
from lstm_init.core import lstm

WORKLOADS = {
    "reference": dict(input=8, hidden=128, length=100, batch=32),
    "small": dict(input=2, hidden=32, length=100, batch=16),
    "smoke": dict(input=2, hidden=8, length=10, batch=4),
}


def flops_per_seed_step(w) -> float:
  """Matmul FLOPs of one step of one seed: forward, plus twice that backward."""
  forward = w["length"] * 2 * w["batch"] * 4 * w["hidden"] * (w["input"] + w["hidden"])
  readout = 2 * w["batch"] * w["hidden"]
  return 3.0 * (forward + readout)


def make_data(w):
  rng = np.random.default_rng(0)
  xs = rng.normal(size=(w["batch"], w["length"], w["input"])).astype(np.float32)
  ys = rng.normal(size=(w["batch"], 1)).astype(np.float32)
  return xs, ys


def make_train(w, steps, impl="fused"):
  """A pure train(key) -> final loss: init, then `steps` Adam steps under lax.scan."""
  opt = optax.adam(1e-3)
  xs, ys = (jnp.asarray(a) for a in make_data(w))

  def loss_fn(params):
    hs, _ = lstm.apply(params["lstm"], xs, impl=impl)
    pred = hs[:, -1] @ params["out"]["W"] + params["out"]["b"]
    return jnp.mean((pred - ys) ** 2)

  def train(key):
    k1, k2 = jax.random.split(key)
    params = {"lstm": init_params(k1, w["input"], w["hidden"], preset="pytorch"),
              "out": {"W": 0.1 * jax.random.normal(k2, (w["hidden"], 1)), "b": jnp.zeros(1)}}
    state = opt.init(params)

    def step(carry, _):
      params, state = carry
      loss, grads = jax.value_and_grad(loss_fn)(params)
      updates, state = opt.update(grads, state)
      return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=steps)
    return losses[-1]

  return train


def sweep_program(train, seeds: int, mesh, group: int):
  """`train` over `seeds` keys as the sweep runs it: groups of `group` seeds
  (0: a device's whole shard), each through one single-device executable, on
  every device of `mesh`.

  Returns:
    (run, compiled, compile seconds): `run()` trains every seed and returns the
    losses [padded seeds], sharded over the mesh.
  """
  per_device = -(-seeds // mesh.size)
  group = group or per_device
  n_pad = seed_group.padded(seeds, mesh.size, group)
  keys = jax.random.split(jax.random.key(0), n_pad)
  groups = placement.SeedGroups.split(
      processes.place(keys, placement.runs_sharding(mesh)), mesh, group)
  start = time.perf_counter()
  compiled = placement.SeedGroupProgram(jax.vmap(train), mesh).compile(groups.first)
  compile_s = time.perf_counter() - start
  return (lambda: compiled(groups).join()), compiled, compile_s


def torch_seconds(w, steps, seeds, device="cpu"):
  """Seconds per seed of the same training with torch.nn.LSTM (cuDNN on a GPU),
  one seed after another after one warm-up seed; None without torch."""
  try:
    import torch
  except ImportError:
    return None
  xs, ys = (torch.from_numpy(a).to(device) for a in make_data(w))
  sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
  times = []
  for s in range(seeds + 1):  # seed 0 warms up
    torch.manual_seed(s)
    net = torch.nn.LSTM(w["input"], w["hidden"], batch_first=True).to(device)
    head = torch.nn.Linear(w["hidden"], 1).to(device)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=1e-3)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
      opt.zero_grad()
      out, _ = net(xs)
      loss = torch.mean((head(out[:, -1]) - ys) ** 2)
      loss.backward()
      opt.step()
    sync()
    if s:
      times.append(time.perf_counter() - t)
  return np.array(times)
