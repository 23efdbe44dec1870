"""Initializers and presets: statistics of many draws against the formulas."""

import math
import os
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lstm_init import ConfigError
from lstm_init.core import presets as ini
from tests import forked

I, H, SEEDS = 32, 64, 40
TRUNC2_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def draw(preset, seeds=SEEDS, i=I, h=H, **kw):
  keys = jax.random.split(jax.random.key(7), seeds)
  return jax.jit(jax.vmap(lambda k: ini.init_params(k, i, h, preset=preset, **kw)[0]))(keys)


def block_singular_values(w_h):
  """Singular values of each (H, H) gate block of [..., H, 4H]."""
  blocks = jnp.stack(jnp.split(w_h, 4, axis=-1), axis=-3)
  return np.asarray(jnp.linalg.svd(blocks, compute_uv=False))


# Expected standard deviation of W_x and W_h at (I, H), and the bound of uniform draws.
EXPECTED_STD = {
    "keras": (math.sqrt(2 / (I + 4 * H)), None),
    "tf1": (math.sqrt(2 / (I + H + 4 * H)), math.sqrt(2 / (I + H + 4 * H))),
    "pytorch": (1 / math.sqrt(3 * H), 1 / math.sqrt(3 * H)),
    "equinox": (1 / math.sqrt(3 * H), 1 / math.sqrt(3 * H)),
    "flax_linen": (1 / math.sqrt(I), None),
    "flax_nnx": (1 / math.sqrt(I), None),
    "haiku": (TRUNC2_STD / math.sqrt(I + H), TRUNC2_STD / math.sqrt(I + H)),
}
UNIFORM_LIMIT = {
    "keras": math.sqrt(6 / (I + 4 * H)), "tf1": math.sqrt(6 / (I + 5 * H)),
    "pytorch": 1 / math.sqrt(H), "equinox": 1 / math.sqrt(H),
}


@pytest.mark.parametrize("preset", sorted(EXPECTED_STD))
def test_kernel_standard_deviations(preset):
  p = draw(preset)
  std_x, std_h = EXPECTED_STD[preset]
  # 40 * 32 * 256 draws: the relative error of a std estimate is ~0.1%.
  assert abs(float(p["W_x"].std()) / std_x - 1) < 0.02
  if std_h is not None:
    assert abs(float(p["W_h"].std()) / std_h - 1) < 0.02
  if preset in UNIFORM_LIMIT:
    limit = UNIFORM_LIMIT[preset]
    assert float(jnp.abs(p["W_x"]).max()) <= limit
    assert float(jnp.abs(p["W_x"]).max()) > 0.99 * limit


def test_documented_std_gap_across_frameworks():
  stds = {k: float(draw(k)["W_x"].std()) for k in ("pytorch", "keras", "tf1", "flax_linen")}
  np.testing.assert_allclose([stds["pytorch"], stds["keras"], stds["tf1"], stds["flax_linen"]],
                             [0.072, 0.083, 0.075, 0.177], atol=0.003)
  assert stds["flax_linen"] / stds["pytorch"] > 2


@pytest.mark.parametrize("preset", ["keras", "flax_nnx", "chrono"])
def test_fused_orthogonal_rows_are_orthonormal_but_blocks_are_not(preset):
  w = draw(preset, seeds=16)["W_h"]
  gram = jnp.einsum("sij,skj->sik", w, w)
  np.testing.assert_allclose(gram, np.broadcast_to(np.eye(H), gram.shape), atol=1e-5)
  sv = block_singular_values(w)
  # REFERENCE: spread between about 0 and 0.9, mean about 0.44 at H = 64.
  assert abs(sv.mean() - 0.44) < 0.03
  assert sv.max() < 1.0 and sv.min() < 0.05


def test_per_gate_orthogonal_blocks_are_orthogonal():
  sv = block_singular_values(draw("flax_linen", seeds=16)["W_h"])
  np.testing.assert_allclose(sv, 1.0, atol=1e-5)


def test_irnn_blocks_are_identity():
  w = draw("irnn", seeds=2)["W_h"][0]
  for block in jnp.split(w, 4, axis=-1):
    np.testing.assert_array_equal(block, np.eye(H))
  w = draw("irnn", seeds=2, recurrent_kernel="scaled_identity:0.5")["W_h"][0]
  np.testing.assert_array_equal(w[:, :H], 0.5 * np.eye(H))


@pytest.mark.parametrize("preset,forget", [("keras", 1.0), ("tf1", 1.0), ("haiku", 1.0),
                                           ("flax_linen", 0.0), ("flax_nnx", 0.0)])
def test_zero_bias_presets_and_forget_offset(preset, forget):
  b = np.asarray(draw(preset, seeds=2)["b"])
  np.testing.assert_array_equal(b[:, H:2 * H], forget)
  np.testing.assert_array_equal(np.delete(b, np.s_[H:2 * H], axis=1), 0.0)


def test_pytorch_bias_is_the_sum_of_two_uniforms():
  b = np.asarray(draw("pytorch", seeds=400)["b"]).ravel()
  # Var of U(-a, a) is a^2 / 3; the sum of two is triangular on (-2a, 2a).
  a = 1 / math.sqrt(H)
  assert abs(b.var() / (2 * a * a / 3) - 1) < 0.03
  assert np.abs(b).max() < 2 * a and np.abs(b).max() > 1.8 * a
  tri = stats.triang(c=0.5, loc=-2 * a, scale=4 * a)
  assert stats.kstest(b, tri.cdf).pvalue > 1e-3


def test_equinox_bias_is_one_uniform():
  b = np.asarray(draw("equinox", seeds=400)["b"]).ravel()
  a = 1 / math.sqrt(H)
  assert stats.kstest(b, stats.uniform(-a, 2 * a).cdf).pvalue > 1e-3


def test_chrono_bias():
  t_max = 50.0
  b = np.asarray(draw("chrono", seeds=100, t_max=t_max)["b"])
  b_i, b_f, rest = b[:, :H], b[:, H:2 * H], b[:, 2 * H:]
  np.testing.assert_allclose(b_i, -b_f)
  np.testing.assert_array_equal(rest, 0.0)
  # exp(b_f) ~ U[1, t_max - 1]; retention sigmoid(b_f) in [1/2, (t_max - 1)/t_max].
  assert stats.kstest(np.exp(b_f).ravel(), stats.uniform(1, t_max - 2).cdf).pvalue > 1e-3
  retention = 1 / (1 + np.exp(-b_f))
  assert retention.min() >= 0.5 and retention.max() <= (t_max - 1) / t_max


def test_overrides_by_name_callable_and_forget_bias():
  p = draw("pytorch", seeds=4, input_kernel="zeros", recurrent_kernel="orthogonal_per_gate",
           bias="constant:0.25", forget_bias=2.0)
  np.testing.assert_array_equal(p["W_x"], 0.0)
  np.testing.assert_allclose(block_singular_values(p["W_h"]), 1.0, atol=1e-5)
  np.testing.assert_array_equal(p["b"][:, :H], 0.25)
  np.testing.assert_array_equal(p["b"][:, H:2 * H], 2.25)
  mine = lambda key, shape, dtype=jnp.float32: jnp.full(shape, 3.0, dtype)
  p = ini.init_params(jax.random.key(0), 2, 4, preset="keras", recurrent_kernel=mine,
                      recurrent_scale=0.5)[0]
  np.testing.assert_array_equal(p["W_h"], 1.5)


def test_later_layers_take_hidden_size_as_input():
  params = ini.init_params(jax.random.key(0), 3, 8, preset="tf1", num_layers=3)
  assert [p["W_x"].shape for p in params] == [(3, 32), (8, 32), (8, 32)]
  assert not np.allclose(params[1]["W_h"], params[2]["W_h"])


def test_initializers_follow_the_jax_protocol_and_plug_into_flax():
  import flax.linen as nn
  dense = nn.Dense(12, kernel_init=ini.get_initializer("orthogonal_per_gate"))
  w = dense.init(jax.random.key(0), jnp.ones((1, 3)))["params"]["kernel"]
  np.testing.assert_allclose(block_singular_values(w), 1.0, atol=1e-5)


@pytest.mark.parametrize("bad,match", [
    (dict(preset="kerass"), r"unknown preset 'kerass'; valid choices: chrono, equinox"),
    (dict(preset="keras", input_kernel="glorot"), r"unknown initializer 'glorot'; valid"),
    (dict(preset="keras", forgetbias=1.0), r"unknown init override 'forgetbias'"),
    (dict(preset="keras", num_layers=0), r"num_layers must be >= 1"),
])
def test_bad_names_give_one_line_with_choices(bad, match):
  with pytest.raises(ConfigError, match=match) as e:
    ini.init_params(jax.random.key(0), 3, 4, **bad)
  assert "\n" not in str(e.value)


def test_flax_linen_preset_agrees_with_flax_lstm_cell():
  import flax.linen as nn
  cell = nn.LSTMCell(H)
  x = jnp.ones((1, I))

  def flax_init(key):
    carry = cell.initialize_carry(jax.random.key(0), x.shape)
    p = cell.init(key, carry, x)["params"]
    return jnp.concatenate([p[f"i{g}"]["kernel"] for g in "ifgo"], -1), \
        jnp.concatenate([p[f"h{g}"]["kernel"] for g in "ifgo"], -1)

  wx, wh = [], []
  for s in range(SEEDS):  # one at a time: Flax's own init runs several QRs per program
    a, b = flax_init(jax.random.key(s))
    wx.append(a); wh.append(b)
  wx, wh = jnp.stack(wx), jnp.stack(wh)
  ours = draw("flax_linen")
  assert abs(float(wx.std()) / float(ours["W_x"].std()) - 1) < 0.03
  np.testing.assert_allclose(block_singular_values(wh[:8]), 1.0, atol=1e-5)


def test_pytorch_preset_agrees_with_torch_lstm():
  import torch
  torch.manual_seed(0)
  draws = [torch.nn.LSTM(I, H).state_dict() for _ in range(20)]
  w_ih = np.stack([d["weight_ih_l0"].numpy() for d in draws])
  b = np.stack([(d["bias_ih_l0"] + d["bias_hh_l0"]).numpy() for d in draws])
  ours = draw("pytorch", seeds=20)
  assert abs(w_ih.std() / float(ours["W_x"].std()) - 1) < 0.03
  assert abs(b.std() / float(ours["b"].std()) - 1) < 0.08
  assert abs(np.abs(w_ih).max() - float(jnp.abs(ours["W_x"]).max())) < 1e-3


@pytest.mark.parametrize("shape", [(8, 8), (64, 256), (256, 64), (3, 5, 12), (128, 128)])
def test_orthogonal_is_the_q_of_jnp_linalg_qr_on_the_same_gaussian(shape):
  key = jax.random.key(3)
  ours = ini.orthogonal(1.5)(key, shape)
  rows, cols = math.prod(shape) // shape[-1], shape[-1]
  z = jax.random.normal(key, (max(rows, cols), min(rows, cols)))
  q, r = jnp.linalg.qr(z)
  q = q * jnp.sign(jnp.diagonal(r))
  expected = 1.5 * (q.T if rows < cols else q).reshape(shape)
  np.testing.assert_allclose(ours, expected, atol=1e-5)
  np.testing.assert_allclose(ours, jax.nn.initializers.orthogonal(1.5)(key, shape), atol=1e-5)


@pytest.mark.parametrize("preset", sorted(ini.PRESETS))
def test_init_programs_call_no_lapack_kernel(preset):
  # jaxlib's batched LAPACK kernels block XLA's CPU workers while they wait on
  # their own sub-tasks; a program of ours must not contain one.
  f = jax.jit(jax.vmap(lambda k: ini.init_params(k, 8, 16, preset=preset, num_layers=2)))
  text = f.lower(jax.random.split(jax.random.key(0), 4)).as_text()
  assert "lapack" not in text.lower() and "custom_call" not in text


def test_many_init_programs_at_once_do_not_hang():
  # Several orthogonal draws in one jit(vmap) program hung on the first call on
  # this 2-core machine with jaxlib's QR. A process of its own with a timeout turns a
  # hang into a failure. Two devices: the program runs sharded, both of XLA's
  # CPU workers busy at once.
  devices = 2
  code = textwrap.dedent(f"""
      import jax
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      from lstm_init import PRESETS, init_params
      assert len(jax.devices()) == {devices}
      sharding = NamedSharding(Mesh(jax.devices(), ("runs",)), P("runs"))
      keys = lambda i: jax.device_put(jax.random.split(jax.random.key(i), 64), sharding)
      every = jax.jit(jax.vmap(lambda k: [init_params(k, 8, 32, preset=p, num_layers=n)
                                          for p in PRESETS for n in (1, 2)]))
      for i in range(20):
        jax.block_until_ready(every(keys(i)))
      print("ok")
  """)
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  out = forked.run(["-c", code], env=env, timeout=180)  # a hang: killed, TimeoutExpired
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
