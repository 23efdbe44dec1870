"""The core API refuses bad arguments at the edge, in one line naming the value
and what is valid, and a traced call pays nothing for the checks."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lstm_init import ConfigError, init_params
from lstm_init.core import initial_states, interop, lstm, rnn
from lstm_init.core.presets import resolve_layer
from lstm_init.training.model import init_overrides

KEY = jax.random.key(0)


def one_line(call, *needles):
  """Runs `call`, expecting one ConfigError line that holds every needle."""
  with pytest.raises(ConfigError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message, message
  for needle in needles:
    assert needle in message, (needle, message)
  return message


@pytest.mark.parametrize("name", ["input_size", "hidden_size", "num_layers"])
@pytest.mark.parametrize("bad,shown", [(2.5, "2.5 (float)"), ("3", "'3' (str)"),
                                       (True, "True (bool)"), (0, "0 (int)"),
                                       (-2, "-2 (int)")])
@pytest.mark.parametrize("init", [init_params, rnn.init_params])
def test_sizes_must_be_positive_ints(init, name, bad, shown):
  sizes = {"input_size": 3, "hidden_size": 4, "num_layers": 1, name: bad}
  one_line(lambda: init(KEY, **sizes), f"{name} must be >= 1 (a positive int), got {shown}")


def test_numpy_integer_sizes_give_the_same_parameters_as_ints():
  a = init_params(KEY, np.int64(3), np.int32(4), num_layers=np.int64(2))
  b = init_params(KEY, 3, 4, num_layers=2)
  assert [p["W_x"].shape for p in a] == [(3, 16), (4, 16)]
  for pa, pb in zip(a, b):
    for k in pa:
      np.testing.assert_array_equal(pa[k], pb[k])


@pytest.mark.parametrize("bad,shown", [(0, "0 (int)"), (1.5, "1.5 (float)"),
                                       (np.zeros(2, np.float32), "dtype float32 and shape (2,)"),
                                       (jax.random.split(KEY, 3), "shape (3,)")])
def test_a_key_must_be_one_prng_key(bad, shown):
  one_line(lambda: init_params(bad, 3, 4), "key must be one JAX PRNG key", shown,
           "jax.random.key(seed)")
  one_line(lambda: rnn.init_params(bad, 3, 4), "key must be one JAX PRNG key")


def test_typed_and_raw_keys_are_both_accepted_and_agree():
  typed = init_params(jax.random.key(7), 3, 4, preset="pytorch")[0]
  raw = init_params(jax.random.PRNGKey(7), 3, 4, preset="pytorch")[0]
  for k in typed:
    np.testing.assert_array_equal(typed[k], raw[k])


def test_unknown_impl_names_the_implementations():
  params = init_params(KEY, 3, 4)
  xs = jnp.ones((2, 5, 3))
  one_line(lambda: lstm.apply(params, xs, impl="nope"), "unknown impl (layer implementation) "
           "'nope'; valid choices: fused, rnn_relu, rnn_tanh, scan")


@pytest.mark.parametrize("bad,needle", [
    ("half", "unknown residual_scale 'half'; valid choices: 'sqrt_half', 'none' or a finite"),
    (float("nan"), "bad residual_scale nan (float); valid: 'sqrt_half', 'none' or a finite"),
    (math.inf, "bad residual_scale inf (float)"), ("inf", "bad residual_scale inf (float)"),
    (True, "bad residual_scale True (bool)")])
def test_residual_scale_is_a_name_or_a_finite_number(bad, needle):
  params = init_params(KEY, 3, 3, num_layers=2)
  one_line(lambda: lstm.apply(params, jnp.ones((2, 4, 3)), residual=True,
                              residual_scale=bad), needle)


def test_residual_scale_numbers_and_names_keep_their_factors():
  assert lstm.residual_factor("sqrt_half") == 1 / math.sqrt(2)
  assert lstm.residual_factor("none") == 1.0
  assert lstm.residual_factor("0.25") == lstm.residual_factor(0.25) == 0.25


@pytest.mark.parametrize("override,needle", [
    (dict(forget_bias=float("nan")), "bad forget_bias nan (float); valid: a finite number"),
    (dict(forget_bias=math.inf), "bad forget_bias inf"),
    (dict(forget_bias="one"), "bad forget_bias 'one' (str)"),
    (dict(recurrent_scale=math.inf), "bad recurrent_scale inf (float); valid: a finite number"),
    (dict(recurrent_scale=-math.inf), "bad recurrent_scale -inf"),
    (dict(preset="chrono", t_max=math.inf), "bad t_max inf (float); valid: a finite number > 2"),
    (dict(preset="chrono", t_max=2.0), "bad t_max 2.0"),
    (dict(preset="keras", t_max=50.0), "t_max=50.0 has no effect: the bias is 'zeros' (preset "
     "'keras'), not 'chrono'; valid: t_max with preset='chrono' or bias='chrono'"),
    (dict(preset="chrono", bias="chrono:30", t_max=50.0), "the bias is 'chrono:30'"),
    (dict(preset="pytorch", bias=jax.nn.initializers.zeros, t_max=50.0), "'a callable'"),
])
def test_scales_and_t_max_are_finite_and_have_an_effect(override, needle):
  one_line(lambda: init_params(KEY, 3, 4, **override), needle)


def test_rnn_recurrent_scale_must_be_finite():
  one_line(lambda: rnn.init_params(KEY, 3, 4, recurrent_scale=float("nan")),
           "bad recurrent_scale nan (float); valid: a finite number")


def test_t_max_with_a_chrono_bias_sets_the_time_scale():
  # exp(b_f) ~ U[1, t_max - 1]: with t_max = 5 every b_f lies in [0, log 4] (Keras'
  # stored forget offset of 1 set to 0).
  b = np.asarray(init_params(KEY, 3, 256, preset="keras", bias="chrono", t_max=5.0,
                             forget_bias=0.0)[0]["b"])
  b_f = b[256:512]
  assert b_f.min() >= 0 and b_f.max() <= math.log(4) + 1e-6 and b_f.max() > 0.9 * math.log(4)


def test_a_sweep_config_leaves_t_max_out_of_the_conditions_it_does_not_reach():
  init = ml_collections.ConfigDict({"preset": "keras", "input_kernel": "",
                                    "recurrent_kernel": "", "bias": "", "forget_bias": None,
                                    "t_max": 50.0, "recurrent_scale": None})
  for preset, bias, kept in (("keras", "", False), ("chrono", "", True),
                             ("keras", "chrono", True), ("chrono", "zeros", False),
                             ("chrono", "chrono:30", True)):
    init.preset, init.bias = preset, bias
    assert ("t_max" in init_overrides(init)) == kept, (preset, bias)
  init.preset, init.bias = "keras", ""
  resolve_layer("keras", 3, 4, init_overrides(init))  # accepted: t_max left out


@pytest.mark.parametrize("name", ["dropout", "input_dropout"])
@pytest.mark.parametrize("bad", [1.5, 1.0, -0.1, float("nan")])
def test_dropout_rates_are_in_zero_one(name, bad):
  params = init_params(KEY, 3, 4, num_layers=2)
  one_line(lambda: lstm.apply(params, jnp.ones((2, 5, 3)), **{name: bad}),
           f"lstm.apply: bad {name} {bad!r} (float); valid: a number in [0, 1)")


def test_dropout_in_training_needs_a_key_that_is_a_key():
  params = init_params(KEY, 3, 4, num_layers=2)
  xs = jnp.ones((2, 5, 3))
  one_line(lambda: lstm.apply(params, xs, dropout=0.5, deterministic=False),
           "needs an explicit key")
  one_line(lambda: lstm.apply(params, xs, dropout=0.5, deterministic=False, key=3),
           "key must be one JAX PRNG key, got 3 (int)")


def test_sequences_need_a_step_and_matching_shapes():
  params = init_params(KEY, 3, 4)
  one_line(lambda: lstm.apply(params, jnp.ones((2, 0, 3))),
           "xs must be [batch, time >= 1, features], got shape (2, 0, 3)")
  one_line(lambda: lstm.apply(params, jnp.ones((5, 3))), "got shape (5, 3)")
  one_line(lambda: lstm.apply(params, jnp.ones((2, 4, 5))),
           "xs has 5 features per step but the first layer's W_x takes 3")
  one_line(lambda: lstm.apply(params, jnp.ones((2, 4, 3)), [(jnp.zeros((3, 4)),) * 2]),
           "the carry must be one (h, c) per layer with shapes [(2, 4)]")
  one_line(lambda: lstm.apply([], jnp.ones((2, 4, 3))), "params must be a non-empty list")
  rnn_params = rnn.init_params(KEY, 3, 4)
  one_line(lambda: lstm.apply(rnn_params, jnp.ones((2, 4, 3))),
           "params[0] has shapes W_x (3, 4), W_h (4, 4), b (4,); valid for impl 'scan'")


@pytest.mark.parametrize("name", ["lengths", "carry_at"])
@pytest.mark.parametrize("bad,row,value", [([3, -1], 1, -1), ([6, 2], 0, 6)])
def test_step_counts_outside_zero_to_t_are_refused(name, bad, row, value):
  params = init_params(KEY, 3, 4)
  xs = jnp.ones((2, 5, 3))
  one_line(lambda: lstm.apply(params, xs, **{name: jnp.array(bad)}),
           f"lstm.apply: {name}[{row}] = {value} is outside [0, T=5]")
  one_line(lambda: lstm.apply(params, xs, **{name: jnp.array([1.0, 2.0])}),
           f"{name} must be [batch=2] integers")
  one_line(lambda: lstm.apply(params, xs, **{name: jnp.array([1, 2, 3])}), "got shape (3,)")


def test_step_counts_at_the_bounds_are_accepted_and_mean_what_they_say():
  params = init_params(KEY, 3, 4, preset="pytorch")
  xs = jax.random.normal(KEY, (2, 5, 3))
  ys, carry = lstm.apply(params, xs, lengths=jnp.array([0, 5]))
  full, full_carry = lstm.apply(params, xs)
  np.testing.assert_array_equal(ys[0], 0.0)                      # no valid step
  np.testing.assert_array_equal(carry[0][0][0], 0.0)             # the initial carry
  np.testing.assert_allclose(ys[1], full[1], rtol=1e-6)
  np.testing.assert_allclose(carry[0][0][1], full_carry[0][0][1], rtol=1e-6)


def test_a_jitted_call_with_traced_lengths_compiles_once_and_agrees():
  params = init_params(KEY, 3, 4, preset="pytorch", num_layers=2)
  xs = jax.random.normal(KEY, (2, 5, 3))
  traces = []

  @jax.jit
  def run(params, xs, lengths, rate):
    traces.append(1)
    return lstm.apply(params, xs, lengths=lengths, dropout=rate, deterministic=False,
                      key=jax.random.key(1))[0]

  for lengths in ([5, 2], [1, 3], [0, 4]):
    got = run(params, xs, jnp.array(lengths), 0.25)
    want = lstm.apply(params, xs, lengths=jnp.array(lengths), dropout=0.25,
                      deterministic=False, key=jax.random.key(1))[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert len(traces) == 1
  # the program holds no host callback: the checks ran in Python, once, at trace time
  jaxpr = str(jax.make_jaxpr(lambda p, x, n: lstm.apply(p, x, lengths=n))(
      params, xs, jnp.array([5, 2])))
  assert "callback" not in jaxpr


def test_init_params_traces_once_under_jit_and_vmap_over_keys():
  traces = []

  @jax.jit
  def draw(keys):
    traces.append(1)
    return jax.vmap(lambda k: init_params(k, 3, 4, preset="chrono", t_max=30.0))(keys)

  keys = jax.random.split(KEY, 4)
  for _ in range(2):
    out = draw(keys)
  assert len(traces) == 1
  eager = init_params(keys[2], 3, 4, preset="chrono", t_max=30.0)
  for k in eager[0]:
    np.testing.assert_allclose(out[0][k][2], eager[0][k], rtol=1e-6)


def test_initial_state_arguments():
  one_line(lambda: initial_states.init_state_params("learned", 0, 4),
           "num_layers must be >= 1 (a positive int), got 0")
  one_line(lambda: initial_states.init_state_params("learned", 1, 4, value=math.nan),
           "bad value nan")
  one_line(lambda: initial_states.initial_carry("noisy", [], 4, 1, 3, key=KEY, training=True,
                                                noise_std=-0.5), "bad noise_std -0.5 (float); "
           "valid: a finite number >= 0")
  one_line(lambda: initial_states.initial_carry("zeros", [], 2.0, 1, 3), "batch must be >= 1")
  one_line(lambda: initial_states.initial_carry("noisy", [], 4, 1, 3, key=5, training=True,
                                                noise_std=0.1), "key must be one JAX PRNG key")
  # a traced noise_std is not checked (its value is unknown) and still draws
  noisy = jax.jit(lambda s: initial_states.initial_carry(
      "noisy", [], 2000, 1, 3, key=KEY, training=True, noise_std=s)[0][0])(0.5)
  assert abs(float(jnp.std(noisy)) - 0.5) < 0.02  # 6000 draws: sd of the sd ~ 0.005


def test_from_torch_refuses_what_it_cannot_convert():
  one_line(lambda: interop.from_torch({}), "no 'weight_ih_l0' in the state dict (keys: none)")
  rng = np.random.default_rng(0)
  sd = {"weight_ih_l0": rng.normal(size=(8, 3)), "weight_hh_l0": rng.normal(size=(8, 2))}
  one_line(lambda: interop.from_torch(sd, 2), "no 'weight_ih_l1'", "num_layers=2")
  one_line(lambda: interop.from_torch({**sd, "weight_ih_l0_reverse": sd["weight_ih_l0"]}),
           "bidirectional")
  one_line(lambda: interop.from_torch({**sd, "bias_ih_l0": np.zeros(6)}),
           "bias_ih_l0 has shape (6,)")
  one_line(lambda: interop.from_torch({**sd, "weight_hh_l0": rng.normal(size=(8, 3))}),
           "inconsistent shapes")
  one_line(lambda: interop.from_torch(sd, 0), "num_layers must be >= 1")


def test_from_keras_refuses_inconsistent_shapes():
  k, r, b = np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)
  interop.from_keras(k, r, b)  # consistent
  for args in ((k, np.zeros((3, 8)), b), (k, r, np.zeros(7)), (np.zeros((3, 12)), r, b),
               (np.zeros(8), r, b)):
    one_line(lambda: interop.from_keras(*args), "from_keras: inconsistent shapes",
             "valid: one hidden size H throughout")


def test_from_torch_and_from_keras_feed_apply_and_match_torch():
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  net = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
  xs = np.random.default_rng(2).normal(size=(4, 7, 3)).astype(np.float32)
  with torch.no_grad():
    want = net(torch.from_numpy(xs))[0].numpy()
  params = interop.from_torch(net.state_dict())  # every layer, read from the keys
  assert len(params) == 2
  np.testing.assert_allclose(lstm.apply(params, xs)[0], want, atol=1e-5)
  # Keras' layout of the first layer: kernel [I, 4H], recurrent [H, 4H], one bias
  one = torch.nn.LSTM(3, 5, batch_first=True)
  sd = {k: v.numpy() for k, v in one.state_dict().items()}
  layer = interop.from_keras(sd["weight_ih_l0"].T, sd["weight_hh_l0"].T,
                             sd["bias_ih_l0"] + sd["bias_hh_l0"])
  with torch.no_grad():
    want_one = one(torch.from_numpy(xs))[0].numpy()
  ys, carry = lstm.apply(layer, xs)
  np.testing.assert_allclose(ys, want_one, atol=1e-5)
  assert len(carry) == 1 and carry[0][0].shape == (4, 5)
