"""Each backend's numerical settings, the flags against the installed jaxlib, the
sub-batched evaluation (the same bits, less memory) and the seed-group rule."""

import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import lstm_init
from lstm_init import records
from lstm_init.engine.runtime import jaxlib_flags, numerics
from lstm_init.engine.runtime import memory as device_memory
from lstm_init.errors import ConfigError
from lstm_init.training import supervised

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(precision=None):
  c = ml_collections.ConfigDict({"precision": precision} if precision else {})
  return c


# -- settings per backend ------------------------------------------------------

def test_cpu_computes_float32_without_flags():
  s = numerics.settings_for("cpu", _config())
  assert (s.platform, s.precision, s.matmul_precision) == ("cpu", "highest", "highest")
  assert s.xla_flags == ()
  assert "does not autotune" in s.autotune


def test_gpu_gets_the_deterministic_flags_and_no_autotuning():
  s = numerics.settings_for("gpu", _config())
  assert s.matmul_precision == "highest"  # not JAX's TF32 default on NVIDIA GPUs
  assert "--xla_gpu_deterministic_ops=true" in s.xla_flags
  assert "--xla_gpu_autotune_level=0" in s.xla_flags
  assert s.autotune.startswith("off")
  # CUDA and ROCm are JAX's GPU platforms.
  assert numerics.settings_for("cuda", _config()) == s
  assert numerics.settings_for("ROCm", _config()) == s


def test_tpu_gets_full_float32_and_no_gpu_flags():
  s = numerics.settings_for("tpu", _config())
  assert s.matmul_precision == "highest"  # not the bfloat16 passes of JAX's TPU default
  assert s.xla_flags == ()


@pytest.mark.parametrize("name,value", [("highest", "highest"), ("tf32", "tensorfloat32"),
                                        ("bf16", "bfloat16")])
@pytest.mark.parametrize("platform", ["cpu", "gpu", "tpu"])
def test_precision_choices_map_to_jax_values(platform, name, value):
  s = numerics.settings_for(platform, _config(name))
  assert (s.precision, s.matmul_precision) == (name, value)
  # A function of the backend and the config alone: the same twice.
  assert numerics.settings_for(platform, _config(name)) == s
  # Every value is one JAX accepts.
  with jax.default_matmul_precision(value):
    assert jax.config.jax_default_matmul_precision == value


def test_unknown_precision_is_one_line_naming_the_choices():
  with pytest.raises(ConfigError, match=r"precision 'fp8'.*valid choices: highest, tf32, bf16"):
    numerics.settings_for("gpu", _config("fp8"))


def test_configure_xla_flags_adds_the_backends_flags_and_keeps_the_users():
  env = {}
  assert numerics.configure_xla_flags("cpu", env) == () and "XLA_FLAGS" not in env
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 --xla_gpu_autotune_level=4"}
  added = numerics.configure_xla_flags("gpu", env)
  assert added == ("--xla_gpu_deterministic_ops=true",)
  flags = numerics.parse_xla_flags(env["XLA_FLAGS"])
  assert flags == {"xla_force_host_platform_device_count": "2", "xla_gpu_autotune_level": "4",
                   "xla_gpu_deterministic_ops": "true"}
  assert numerics.configure_xla_flags("gpu", env) == ()  # a second call adds nothing


def test_expected_platform_follows_jax_platforms():
  assert numerics.expected_platform("cuda,cpu") == "gpu"
  assert numerics.expected_platform("tpu") == "tpu"
  assert numerics.expected_platform("cpu") == "cpu"
  # Found without a list, before the backend starts: the backend JAX then starts.
  assert numerics.expected_platform("") == numerics.platform_name(jax.default_backend())


def test_autotune_source_follows_the_flags_in_force():
  assert numerics.autotune_source("gpu", "--xla_gpu_autotune_level=0", None, None).startswith("off")
  kept = numerics.autotune_source("gpu", "--xla_gpu_autotune_level=4", "/c",
                                  "xla_gpu_per_fusion_autotune_cache_dir")
  assert "timed" in kept and os.path.join("/c", numerics.AUTOTUNE_CACHE) in kept
  assert "each process" in numerics.autotune_source("gpu", "", None, None)


def test_gpu_record_names_the_flags_in_force(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=true --xla_gpu_autotune_level=0")
  rec = numerics.record(_config(), platform="gpu")
  assert rec["deterministic"] == "XLA flag --xla_gpu_deterministic_ops=true"
  assert rec["deterministic_flags"] == ["--xla_gpu_deterministic_ops=true",
                                        "--xla_gpu_autotune_level=0"]
  assert rec["autotune"].startswith("off")
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
  rec = numerics.record(_config(), platform="gpu")
  assert rec["deterministic"].startswith("none") and "timed" in rec["autotune"]


def test_every_precision_gives_the_same_bits_on_the_cpu():
  """What `record` says of the CPU: its matmuls compute float32 at every setting."""
  k1, k2 = jax.random.split(jax.random.key(0))
  a, b = jax.random.normal(k1, (64, 96)), jax.random.normal(k2, (96, 128))
  out = {}
  for name in numerics.PRECISIONS:
    with numerics.precision_scope(_config(name)):
      out[name] = np.asarray(jax.jit(lambda a, b: jnp.tanh(a @ b) @ b.T)(a, b))
  assert all(np.array_equal(v, out["highest"]) for v in out.values())
  # Rounding the inputs to bfloat16 by hand does change them: the check can fail.
  rounded = np.asarray((a.astype(jnp.bfloat16).astype(jnp.float32)) @ b)
  assert not np.array_equal(rounded, np.asarray(a @ b))


# -- flag names against the installed jaxlib ----------------------------------------

def test_every_flag_name_is_known_to_the_installed_jaxlib():
  assert jaxlib_flags.libraries()
  assert jaxlib_flags.unknown(numerics.FLAG_NAMES) == []
  # A name jaxlib does not hold, or a prefix of one that it does, is reported.
  assert jaxlib_flags.unknown(["xla_gpu_no_such_flag", "xla_gpu_autotune",
                               "xla_gpu_autotune_level"]) == [
      "xla_gpu_no_such_flag", "xla_gpu_autotune"]


def _start_backend(xla_flags: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, XLA_FLAGS=xla_flags, JAX_PLATFORMS="")
  return subprocess.run([sys.executable, "-c", "import jax.numpy as jnp; print(jnp.ones(3).sum())"],
                        env=env, capture_output=True, text=True, timeout=120)


def test_xla_starts_with_every_flag_and_aborts_on_an_unknown_one():
  flags = " ".join(f for fs in numerics.FLAGS.values() for f in fs)
  flags += " --xla_gpu_exclude_nondeterministic_ops=true"
  ok = _start_backend(flags)
  assert ok.returncode == 0 and "3.0" in ok.stdout, ok.stderr[-500:]
  bad = _start_backend("--xla_gpu_no_such_flag=true")
  assert bad.returncode != 0 and "Unknown flag" in bad.stderr


# -- what environment.json records -----------------------------------------------

def test_environment_records_the_numerics_in_force_and_reproduce_compares_them():
  rec = numerics.record(_config("tf32"), platform="cpu")
  assert all(v is not None for v in rec.values())
  assert rec["precision"] == "tf32" and rec["matmul_precision"] == "tensorfloat32"
  env = records.environment(numerics=rec)
  assert env["default_matmul_precision"] == "tensorfloat32"
  assert env["numerics"] == rec
  fields = records.bit_fields(env)
  for name in ("numerics.precision", "numerics.deterministic_flags", "numerics.autotune"):
    assert name in records.BIT_FIELDS and fields[name] == rec[name.split(".")[1]]
  other = dict(env, numerics=dict(rec, autotune="timed when compiled"))
  differ = [k for k, v in records.bit_fields(other).items() if v != fields[k]]
  assert differ == ["numerics.autotune"]
  # Without the settings, JAX's own value (None here) is named, not written as None.
  assert records.environment()["default_matmul_precision"] in ("cpu default", "highest")


# -- evaluation in sub-batches: the same bits, less memory ------------------------------

def _spec(path, **overrides):
  config = lstm_init.config(os.path.join(ROOT, path), **overrides)
  return config, supervised.make_supervised(config)


def _initial(spec, config, runs=2):
  keys = {k: jax.random.split(jax.random.key(i), runs)
          for i, k in enumerate(("init", "data", "dropout", "noise"))}
  values = {k: jnp.full((runs,), v, jnp.float32)
            for k, v in supervised.run_values(config).items()}
  return jax.jit(jax.vmap(spec.init))(keys, values)


def _trained(spec, config, runs=2, steps=10):
  state = _initial(spec, config, runs)
  return jax.jit(jax.vmap(lambda s: spec.train_chunk(s, spec.task.data, steps)[0]))(state)


@pytest.mark.parametrize("path,overrides", [
    ("configs/copy.py", {"task.delay": 8, "model.hidden_size": 24, "task.eval_size": 150}),
    ("configs/default.py", {"task.eval_size": 130}),
    ("configs/delayed_recall.py", {"task.eval_rows": 70, "model.hidden_size": 16}),
])
def test_evaluation_in_sub_batches_gives_the_bits_of_one_batch(path, overrides):
  config, spec = _spec(path, **overrides)
  state = _initial(spec, config)
  whole = dataclasses.replace(spec, eval_batch=0)
  assert spec.eval_batch == supervised.EVAL_BATCH == 64
  splits = ("val", "test", "curve")
  evaluate = lambda sp: jax.jit(jax.vmap(
      lambda s: {split: sp.evaluate(s, spec.task.data, split) for split in splits}))(state)
  a, b = evaluate(whole), evaluate(spec)
  for split in splits:
    for k in a[split]:
      assert np.array_equal(np.asarray(a[split][k]), np.asarray(b[split][k]),
                            equal_nan=True), (split, k)


def test_by_rows_pads_and_cuts_the_rows():
  xs = jnp.arange(10.0).reshape(5, 2)
  calls = []

  def fn(x):
    calls.append(x.shape)
    return x * 2, x.sum(1)

  doubled, sums = supervised.by_rows(fn, (xs,), 2)
  assert calls == [(2, 2)]  # one traced call over 3 sub-batches (5 rows padded to 6)
  np.testing.assert_array_equal(doubled, np.arange(10.0).reshape(5, 2) * 2)
  np.testing.assert_array_equal(sums, [1, 5, 9, 13, 17])
  assert supervised.by_rows(fn, (xs,), 0)[0].shape == (5, 2)


def _evaluation_temporaries(spec, config, runs):
  state = jax.eval_shape(lambda: _trained(spec, config, runs, 1))
  fn = jax.jit(jax.vmap(lambda s, d: {k: spec.evaluate(s, d, k) for k in ("val", "test")},
                        in_axes=(0, None)))
  return fn.lower(state, spec.task.data).compile().memory_analysis().temp_size_in_bytes


def test_sub_batches_cut_the_evaluation_temporaries_at_least_4x():
  config, spec = _spec("configs/default.py")
  before = _evaluation_temporaries(dataclasses.replace(spec, eval_batch=0), config, 1)
  after = _evaluation_temporaries(spec, config, 1)
  assert before >= 4 * after, (before, after)


# -- the seed-group rule ----------------------------------------------------------

def test_rule_picks_the_largest_power_of_two_that_fits():
  mib = 2 ** 20
  asked = []

  def memory(n):  # 1 MiB held per run, temporaries 0.5 MiB per run plus 3 MiB
    asked.append(n)
    return mib, n * mib // 2 + 3 * mib

  budget = 100 * mib
  size = device_memory.largest_fitting_group(memory, budget)
  assert size == 64  # 64 * 1.5 + 3 = 99 MiB; 128 would need 195
  assert asked == [1024, 512, 256, 128, 64]  # from the top: the first that fits
  held, temp = memory(size)
  assert size * held + temp <= budget
  held, temp = memory(2 * size)
  assert 2 * size * held + temp > budget
  assert device_memory.largest_fitting_group(memory, budget) == size  # the same twice
  assert device_memory.largest_fitting_group(memory, 10 ** 12) == 1024
  assert device_memory.largest_fitting_group(memory, 10 ** 12, limit=8) == 8
  assert device_memory.largest_fitting_group(memory, 1) == 1  # nothing fits: 1, refused later
  with pytest.raises(ValueError, match="power of two"):
    device_memory.largest_fitting_group(memory, budget, limit=12)


def test_rule_on_a_real_compiled_program_fits_its_budget():
  config, spec = _spec("configs/copy.py", **{"task.delay": 4, "model.hidden_size": 8,
                                             "task.eval_size": 32})

  def memory(n):
    state = jax.eval_shape(lambda: _trained(spec, config, n, 1))
    fn = jax.jit(jax.vmap(lambda s, d: spec.evaluate(s, d, "val"), in_axes=(0, None)))
    m = fn.lower(state, spec.task.data).compile().memory_analysis()
    held = (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes) / n
    return held, m.temp_size_in_bytes

  held4, temp4 = memory(4)
  budget = int(4 * held4 + temp4)  # exactly what 4 runs need
  size = device_memory.largest_fitting_group(memory, budget, limit=16)
  assert size == device_memory.largest_fitting_group(memory, budget, limit=16)
  held, temp = memory(size)
  assert size >= 4 and size * held + temp <= budget
  if size < 16:
    held, temp = memory(2 * size)
    assert 2 * size * held + temp > budget


def test_group_budget_and_rule_record():
  assert device_memory.group_budget(None, 16 * 2 ** 30) == 8 * 2 ** 30
  assert device_memory.group_budget(2.0, 16 * 2 ** 30) == 2 * 2 ** 30
  text = device_memory.describe_group_rule(256, 8 * 2 ** 30)
  assert "1024" in text and "8.00 GiB" in text and text.endswith(": 256")
