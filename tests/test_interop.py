"""Conversions to and from torch and Keras layouts."""

import jax
import numpy as np

from lstm_init import init_params
from lstm_init.core import interop, lstm


def test_torch_round_trip_and_layout():
  params = [jax.tree.map(np.asarray, p)
            for p in init_params(jax.random.key(0), 3, 5, preset="pytorch", num_layers=2)]
  sd = interop.to_torch(params)
  assert sd["weight_ih_l0"].shape == (20, 3) and sd["weight_hh_l1"].shape == (20, 5)
  # gate i of unit 0 is row 0 in torch and column 0 in the canonical layout
  assert sd["weight_ih_l0"][0, 1] == params[0]["W_x"][1, 0]
  back = interop.from_torch(sd, 2)
  for a, b in zip(params, back):
    for k in ("W_x", "W_h", "b"):
      np.testing.assert_array_equal(a[k], b[k])


def test_from_torch_sums_the_two_biases():
  rng = np.random.default_rng(0)
  sd = {"weight_ih_l0": rng.normal(size=(8, 3)), "weight_hh_l0": rng.normal(size=(8, 2)),
        "bias_ih_l0": rng.normal(size=8), "bias_hh_l0": rng.normal(size=8)}
  p = interop.from_torch(sd, 1)[0]
  np.testing.assert_allclose(p["b"], sd["bias_ih_l0"] + sd["bias_hh_l0"])
  np.testing.assert_allclose(p["W_h"], sd["weight_hh_l0"].T)


def test_keras_round_trip():
  p = jax.tree.map(np.asarray, init_params(jax.random.key(1), 4, 3, preset="keras")[0])
  kernel, rec, bias = interop.to_keras(p)
  assert kernel.shape == (4, 12) and rec.shape == (3, 12) and bias[3:6].tolist() == [1, 1, 1]
  back = interop.from_keras(kernel, rec, bias)
  for k in p:
    np.testing.assert_array_equal(p[k], back[k])


def test_torch_state_dict_converts_and_runs_the_same():
  import torch
  net = torch.nn.LSTM(2, 4, batch_first=True)
  params = interop.from_torch(net.state_dict(), 1)
  xs = np.random.default_rng(1).normal(size=(2, 5, 2)).astype(np.float32)
  with torch.no_grad():
    out = net(torch.from_numpy(xs))[0].numpy()
  np.testing.assert_allclose(lstm.apply(params, xs)[0], out, atol=1e-5)
  net2 = torch.nn.LSTM(2, 4, batch_first=True)
  net2.load_state_dict({k: torch.from_numpy(v) for k, v in interop.to_torch(params).items()})
  with torch.no_grad():
    np.testing.assert_allclose(net2(torch.from_numpy(xs))[0].numpy(), out, atol=1e-6)
