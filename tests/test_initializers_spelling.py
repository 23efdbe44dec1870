"""Initializers by name: the spellings, VarianceScaling against JAX and Keras' formula."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import lstm_init
from lstm_init.core import initializers as ini
from lstm_init.errors import ConfigError

# Keras' documented VarianceScaling: n = fan_in, fan_out or their mean, on the
# weight's own shape (receptive field = product of all but the last two axes);
# truncated_normal: N(0, 1) cut at +-2 and scaled by sqrt(scale / n) / 0.8796...
TRUNC_STD = 0.87962566103423978   # std of N(0, 1) truncated to [-2, 2]


def keras_fans(shape):
  """Keras' `compute_fans` (keras/src/initializers/random_initializers.py)."""
  if len(shape) == 0:
    return 1, 1
  if len(shape) == 1:
    return shape[0], shape[0]
  if len(shape) == 2:
    return shape[0], shape[1]
  receptive = math.prod(shape[:-2])
  return shape[-2] * receptive, shape[-1] * receptive


def keras_std(shape, scale, mode):
  fan_in, fan_out = keras_fans(shape)
  n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
  return math.sqrt(scale / n)


SPELLINGS = ["variance_scaling(scale=2,mode=fan_out,distribution=uniform)",
             "variance_scaling(2, fan_out, uniform)",
             "variance_scaling:2:fan_out:uniform",
             "variance_scaling:scale=2:mode=fan_out:distribution=uniform",
             "VarianceScaling(scale=2.0, mode='fan_out', distribution='uniform')",
             " variance_scaling( scale = 2 , distribution = \"uniform\", mode = fan_out ) "]


@pytest.mark.parametrize("spec", SPELLINGS)
def test_every_spelling_draws_what_jax_variance_scaling_draws(spec, key):
  expected = jax.nn.initializers.variance_scaling(2.0, "fan_out", "uniform")(key, (16, 64))
  got = ini.get_initializer(spec)(key, (16, 64), jnp.float32)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
  assert ini.canonical_spec(spec) == ini.canonical_spec(SPELLINGS[0]) == (
      "variance_scaling(scale=2.0, mode='fan_out', distribution='uniform')")


@pytest.mark.parametrize("name,scale,mode,dist", [
    ("glorot_uniform", 1.0, "fan_avg", "uniform"), ("GlorotUniform", 1.0, "fan_avg", "uniform"),
    ("glorot_normal", 1.0, "fan_avg", "truncated_normal"),
    ("he_normal", 2.0, "fan_in", "truncated_normal"), ("HeUniform", 2.0, "fan_in", "uniform"),
    ("lecun_normal", 1.0, "fan_in", "truncated_normal"),
    ("lecun_uniform:0.5", 0.5, "fan_in", "uniform"),
    ("xavier_uniform", 1.0, "fan_avg", "uniform"), ("kaiming_normal", 2.0, "fan_in",
                                                    "truncated_normal")])
def test_the_named_family_is_variance_scaling_with_keras_settings(name, scale, mode, dist, key):
  a = ini.get_initializer(name)(key, (24, 96), jnp.float32)
  b = ini.variance_scaling(scale, mode, dist)(key, (24, 96), jnp.float32)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# 2-D, 1-D and a conv-like 3-D shape, where Keras' fans differ from the naive ones.
SHAPES = [(200, 800), (120_000,), (3, 40, 600)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("dist", ["truncated_normal", "untruncated_normal", "uniform"])
def test_draws_have_the_variance_of_keras_formula(shape, mode, dist, key):
  # 72,000 to 160,000 draws: the sample std's relative standard error is
  # 1/sqrt(2N) < 0.27%, so a 1.5% tolerance is over 5 standard errors, and a
  # missing 0.8796 correction (12% off) or a wrong fan (>= 20% off) fails.
  scale = 1.7
  x = np.asarray(ini.get_initializer(f"variance_scaling:{scale}:{mode}:{dist}")(
      key, shape, jnp.float32), np.float64).ravel()
  std = keras_std(shape, scale, mode)
  assert abs(x.mean()) < 5 * std / math.sqrt(x.size)
  assert x.std() == pytest.approx(std, rel=0.015)
  if dist == "uniform":
    limit = math.sqrt(3.0) * std
    assert np.abs(x).max() <= limit and np.abs(x).max() > 0.999 * limit
  elif dist == "truncated_normal":
    bound = 2 * std / TRUNC_STD
    assert np.abs(x).max() <= bound * (1 + 1e-6) and np.abs(x).max() > 0.99 * bound
  else:
    assert np.abs(x).max() > 3.5 * std   # an untruncated normal has tails past 2 std


def test_truncated_normal_matches_scipy_truncnorm(key):
  # An independent implementation of the distribution: Kolmogorov-Smirnov
  # against scipy's truncnorm(-2, 2) with Keras' scale, on 40,000 draws.
  x = np.asarray(ini.get_initializer("variance_scaling(2, fan_in)")(key, (50, 800)),
                 np.float64).ravel()
  sigma = math.sqrt(2.0 / 50) / TRUNC_STD
  p = scipy.stats.kstest(x, scipy.stats.truncnorm(-2, 2, scale=sigma).cdf).pvalue
  assert p > 1e-3
  # ... and not the untruncated normal of the same std (the test can fail)
  assert scipy.stats.kstest(x, scipy.stats.norm(scale=sigma * TRUNC_STD).cdf).pvalue < 1e-6


def test_keras_random_normal_and_uniform_take_their_arguments(key):
  x = np.asarray(ini.get_initializer("RandomNormal(mean=0.5, stddev=0.2)")(key, (400, 250)))
  assert x.mean() == pytest.approx(0.5, abs=5 * 0.2 / math.sqrt(x.size))
  assert x.std() == pytest.approx(0.2, rel=0.01)
  u = np.asarray(ini.get_initializer("random_uniform:-0.1:0.3")(key, (400, 250)))
  assert u.min() >= -0.1 and u.max() <= 0.3 and u.mean() == pytest.approx(0.1, abs=0.002)


def test_arguments_by_name_and_keras_aliases(key):
  a = ini.get_initializer("orthogonal(gain=1.5)")(key, (32, 32))
  np.testing.assert_allclose(np.asarray(a @ a.T), 2.25 * np.eye(32), atol=1e-4)
  c = ini.get_initializer("chrono(t_max=50)")(key, (4 * 16,))
  retention = jax.nn.sigmoid(c[16:32])
  assert float(retention.min()) >= 0.5 and float(retention.max()) <= 49 / 50 + 1e-6
  assert float(ini.get_initializer("constant:value=0.25")(key, (3,))[0]) == 0.25


def test_initializer_names_lists_every_name_with_its_arguments(key):
  names = ini.initializer_names()
  assert names["variance_scaling"] == (
      "(scale=1.0, mode='fan_in', distribution='truncated_normal')")
  assert names["orthogonal"] == "(scale=1.0)" and names["zeros"] == "()"
  assert list(names) == sorted(names)
  for name, signature in names.items():
    init = ini.get_initializer(name)          # every listed name resolves, defaults alone
    shape = (32,) if name == "chrono" else (8, 32)   # chrono draws a [4H] bias
    assert jax.eval_shape(lambda k: init(k, shape, jnp.float32), key).shape == shape
    assert ini.canonical_spec(name).endswith(signature)
  described = {n for n, _, _ in ini.describe_initializers()}
  assert described == set(names)


@pytest.mark.parametrize("spec,words", [
    ("variance_scalin", "unknown initializer 'variance_scalin'; valid choices: "),
    ("variance_scaling(mode=fan_sideways)", "valid choices: fan_in, fan_out, fan_avg"),
    ("variance_scaling:1:fan_in:normal", "untruncated in JAX and truncated in older Keras"),
    ("variance_scaling(scale=-1)", "bad scale -1.0 for variance_scaling; valid: a finite number > 0"),
    ("variance_scaling(1, fan_in, uniform, 4)", "takes at most 3 argument(s)"),
    ("variance_scaling(seed=3)", "unknown argument 'seed' of initializer 'variance_scaling'"),
    ("variance_scaling(scale=1, 2)", "without a name after a named one"),
    ("orthogonal:nan", "valid: a finite number"),
    ("normal:abc", "bad stddev 'abc' for initializer 'normal'; valid: a number"),
    ("zeros:1", "takes at most 0 argument(s)"),
    ("glorot_uniform(", "malformed initializer"),
    ("uniform::", "an empty argument")])
def test_a_bad_spec_is_one_line_naming_it(spec, words):
  with pytest.raises(ConfigError) as e:
    ini.get_initializer(spec)
  assert words in str(e.value) and "\n" not in str(e.value)


def test_variance_scaling_with_mode_and_distribution_sweeps(tmp_path):
  # The spelling works end to end: swept from a config, recorded as resolved.
  specs = ["variance_scaling(scale=2,mode=fan_out,distribution=uniform)",
           "variance_scaling:1:fan_avg:untruncated_normal"]
  config = lstm_init.config(None, **{"num_seeds": 2, "train.steps": 2, "train.log_every": 1,
                                     "model.hidden_size": 4, "task.length": 5,
                                     "task.eval_size": 8, "report": False,
                                     "model.init.preset": "keras"})
  result = lstm_init.sweep(config, sweep=["model.init.input_kernel=" + ",".join(specs)],
                           workdir=str(tmp_path / "vs"), progress="lines")
  assert len(result.summary) == 2
  with open(os.path.join(result.workdir, "config.json")) as f:
    recorded = [c["init"]["input_kernel"] for c in json.load(f)["conditions"]]
  assert recorded == specs
