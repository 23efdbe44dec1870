"""The plain RNN cell against torch.nn.RNN: outputs, gradients, default initialization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from lstm_init.core import lstm, rnn
from lstm_init.errors import ConfigError
from lstm_init.engine.spec.plan import plan_sweep
from tests.helpers import tiny_config


def _torch_rnn(params, nonlinearity):
  import torch
  net = torch.nn.RNN(params[0]["W_x"].shape[0], params[0]["W_h"].shape[0],
                     num_layers=len(params), nonlinearity=nonlinearity, batch_first=True)
  with torch.no_grad():
    for l, p in enumerate(params):
      getattr(net, f"weight_ih_l{l}").copy_(torch.from_numpy(np.array(p["W_x"]).T))
      getattr(net, f"weight_hh_l{l}").copy_(torch.from_numpy(np.array(p["W_h"]).T))
      getattr(net, f"bias_ih_l{l}").copy_(torch.from_numpy(np.array(p["b"])))
      getattr(net, f"bias_hh_l{l}").zero_()
  return net


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_outputs_carry_and_gradients_equal_torch(nonlinearity):
  import torch
  params = rnn.init_params(jax.random.key(0), 3, 6, preset="pytorch", num_layers=2)
  xs = np.random.default_rng(0).normal(size=(4, 9, 3)).astype(np.float32)
  h0 = np.random.default_rng(1).normal(size=(2, 4, 6)).astype(np.float32)
  carry = [(jnp.asarray(h0[l]), jnp.zeros((4, 6))) for l in range(2)]
  impl = f"rnn_{nonlinearity}"
  ys, final = lstm.apply(params, xs, carry, impl=impl)
  net = _torch_rnn(params, nonlinearity)
  out, hn = net(torch.from_numpy(xs), torch.from_numpy(h0))
  np.testing.assert_allclose(ys, out.detach().numpy(), atol=2e-6)
  for l in range(2):
    np.testing.assert_allclose(final[l][0], hn[l].detach().numpy(), atol=2e-6)
    np.testing.assert_array_equal(final[l][1], 0.0)  # the carry's c is unused
  # Gradients of the same scalar loss with respect to every weight.
  loss = lambda p: jnp.sum(lstm.apply(p, xs, carry, impl=impl)[0] ** 2)
  grads = jax.grad(loss)(params)
  (out ** 2).sum().backward()
  for l in range(2):
    np.testing.assert_allclose(grads[l]["W_h"], getattr(net, f"weight_hh_l{l}").grad.numpy().T,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[l]["W_x"], getattr(net, f"weight_ih_l{l}").grad.numpy().T,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[l]["b"], getattr(net, f"bias_ih_l{l}").grad.numpy(),
                               rtol=1e-4, atol=1e-5)


def test_pytorch_preset_draws_what_torch_draws():
  import torch
  hidden, draws = 32, 40
  ours = {"W_h": [], "b": []}
  theirs = {"W_h": [], "b": []}
  for s in range(draws):
    p = rnn.init_params(jax.random.key(s), 3, hidden, preset="pytorch")[0]
    ours["W_h"].append(np.asarray(p["W_h"]).ravel())
    ours["b"].append(np.asarray(p["b"]))
    torch.manual_seed(s)
    net = torch.nn.RNN(3, hidden)
    theirs["W_h"].append(net.weight_hh_l0.detach().numpy().ravel())
    theirs["b"].append((net.bias_ih_l0 + net.bias_hh_l0).detach().numpy())
  for k in ours:
    a, b = np.concatenate(ours[k]), np.concatenate(theirs[k])
    # Two-sample Kolmogorov-Smirnov: same distribution (U(+-1/sqrt(H)); the bias a sum
    # of two of them, triangular), at the 0.1% level.
    assert scipy.stats.ks_2samp(a, b).pvalue > 1e-3, k
  limit = 1 / np.sqrt(hidden)
  assert np.abs(np.concatenate(ours["W_h"])).max() <= limit


def test_literature_presets():
  p = rnn.init_params(jax.random.key(3), 2, 100, preset="irnn")[0]
  np.testing.assert_array_equal(p["W_h"], np.eye(100))
  np.testing.assert_array_equal(p["b"], 0.0)
  # N(0, 0.001^2) input weights: 200 draws, the sample std within 20% (chi-square: about 4 sd).
  assert abs(float(np.std(p["W_x"])) - 1e-3) < 2e-4
  q = rnn.init_params(jax.random.key(4), 2, 50, preset="orthogonal")[0]["W_h"]
  np.testing.assert_allclose(q.T @ q, np.eye(50), atol=1e-5)
  scaled = rnn.init_params(jax.random.key(3), 2, 10, preset="irnn", recurrent_scale=0.5)[0]
  np.testing.assert_array_equal(scaled["W_h"], 0.5 * np.eye(10))


@pytest.mark.parametrize("override,message", [
    ({"model.init.forget_bias": 1.0}, "model.init.forget_bias is an LSTM setting"),
    ({"model.init.preset": "chrono"}, "unknown RNN preset (model.cell=rnn_*) 'chrono'"),
    ({"model.cell": "gru"}, "unknown model.cell 'gru'; valid choices: lstm, rnn_relu, rnn_tanh"),
])
def test_bad_rnn_settings_are_refused(override, message):
  cfg = tiny_config()
  cfg.model.cell = "rnn_tanh"
  cfg.model.init.preset = "pytorch"
  for path, value in override.items():
    node, name = cfg, path.split(".")
    for part in name[:-1]:
      node = node[part]
    node[name[-1]] = value
  with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                     .replace("*", r"\*")):
    plan_sweep(cfg)


def test_rnn_impl_given_is_refused():
  cfg = tiny_config()
  cfg.model.cell = "rnn_relu"
  cfg.model.init.preset = "irnn"
  with pytest.raises(ConfigError, match="model.impl=scan would have no effect"):
    plan_sweep(cfg, given={"model.impl": "scan"})
