"""Each backend's numerical settings, decided from the backend and the config alone.

  settings = numerics.settings_for("gpu", config)   # precision, XLA flags, autotuning
  numerics.configure_xla_flags()                    # before JAX starts its backend
  with numerics.precision_scope(config):            # while programs are traced
    ...
  env = records.environment(numerics=numerics.record(config))

What decides a run's bits beside the command, per backend:

  precision  float32 matmuls at full float32 ("highest") by default. JAX would
             otherwise compute them as TF32 on recent NVIDIA GPUs and with
             bfloat16 passes on TPUs; `config.precision` names a faster choice
             ("tf32", "bf16"), and the log and environment.json name it. On the
             CPU every setting computes float32 (measured: the same bits).
  flags      on GPUs, `--xla_gpu_deterministic_ops=true` (XLA's documented
             switch to deterministic scatter, reductions and GEMMs; a superset
             of `--xla_gpu_exclude_nondeterministic_ops`) and
             `--xla_gpu_autotune_level=0`: XLA picks no kernel by timing it, so
             two cold processes compile the same program. The CPU and TPUs get
             no flags.
  autotune   where kernel choices come from: nowhere on the CPU (it does not
             autotune), XLA's default kernels on GPUs; a user who sets
             `--xla_gpu_autotune_level` in XLA_FLAGS gets timed choices, which
             JAX keeps beside the compilation cache
             (`<cache>/xla_gpu_per_fusion_autotune_cache_dir`), and the record
             says so.

An XLA flag that the installed jaxlib does not know aborts XLA at start, so
every flag named here (`FLAG_NAMES`) is checked against the installed jaxlib
(`lstm_init.engine.runtime.jaxlib_flags`, tested).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
from typing import Any

import jax

from lstm_init.errors import ConfigError

# config.precision -> jax_default_matmul_precision.
PRECISIONS = {"highest": "highest", "tf32": "tensorfloat32", "bf16": "bfloat16"}
DEFAULT_PRECISION = "highest"
PRECISION_NOTES = {
    "highest": "float32 matmuls at full float32 precision",
    "tf32": "float32 matmuls as TensorFloat-32 on GPUs that have it (faster, 10-bit mantissa)",
    "bf16": "float32 matmuls with bfloat16 inputs (fastest, 7-bit mantissa)",
}
# XLA flags per backend, as `--name=value`.
GPU_DETERMINISTIC = ("--xla_gpu_deterministic_ops=true",)
GPU_AUTOTUNE_OFF = ("--xla_gpu_autotune_level=0",)
FLAGS = {"gpu": GPU_DETERMINISTIC + GPU_AUTOTUNE_OFF}
# Flags this module reads back from XLA_FLAGS to say what is in force.
DETERMINISM_FLAGS = ("xla_gpu_deterministic_ops", "xla_gpu_exclude_nondeterministic_ops")
AUTOTUNE_LEVEL = "xla_gpu_autotune_level"
TRUE = ("true", "1")
AUTOTUNE_CACHE = "xla_gpu_per_fusion_autotune_cache_dir"  # JAX's folder beside its cache
# Every XLA flag name this module writes or reads (checked against jaxlib).
FLAG_NAMES = tuple(dict.fromkeys(
    [f.split("=")[0].lstrip("-") for fs in FLAGS.values() for f in fs]
    + list(DETERMINISM_FLAGS) + [AUTOTUNE_LEVEL, AUTOTUNE_CACHE]))
PLATFORMS = ("cpu", "gpu", "tpu")
ALIASES = {"cuda": "gpu", "rocm": "gpu"}


@dataclasses.dataclass(frozen=True)
class Numerics:
  """The numerical settings of one backend for one config.

  Attributes:
    platform: "cpu", "gpu" or "tpu".
    precision: the config's name ("highest", "tf32", "bf16").
    matmul_precision: the value of `jax_default_matmul_precision` it sets.
    xla_flags: the XLA flags this backend gets (`--name=value`).
    deterministic: how execution is made deterministic, in words.
    autotune: where kernel choices come from, in words.
  """

  platform: str
  precision: str
  matmul_precision: str
  xla_flags: tuple[str, ...]
  deterministic: str
  autotune: str


def platform_name(platform: str) -> str:
  """A JAX platform's name here ("cuda" and "rocm" are "gpu").

  Args:
    platform: e.g. `jax.default_backend()` or a `JAX_PLATFORMS` entry.

  Returns:
    "cpu", "gpu", "tpu", or the name itself (lowercase) for another backend.
  """
  p = platform.strip().lower()
  return ALIASES.get(p, p)


def precision_of(config) -> str:
  """The config's matmul precision name (`config.precision`; default "highest").

  Args:
    config: a sweep config (a ConfigDict or a mapping); a config without the
      field gets the default.

  Returns:
    A key of `PRECISIONS`.

  Raises:
    ConfigError: for a name outside `PRECISIONS`.
  """
  name = config.get("precision", None) if config is not None else None
  name = DEFAULT_PRECISION if name is None else str(name)
  if name not in PRECISIONS:
    raise ConfigError(f"precision {name!r} is not known; valid choices: "
                      f"{', '.join(PRECISIONS)}")
  return name


def settings_for(platform: str, config) -> Numerics:
  """The numerical settings of `platform` for `config`: a function of the two alone.

  Args:
    platform: the backend ("cpu", "gpu", "tpu"; "cuda"/"rocm" count as "gpu").
    config: the sweep config (reads `precision`).

  Returns:
    The `Numerics`.

  Raises:
    ConfigError: for an unknown precision.
  """
  platform = platform_name(platform)
  name = precision_of(config)
  flags = FLAGS.get(platform, ())
  if platform == "gpu":
    deterministic = "XLA flag " + " ".join(GPU_DETERMINISTIC)
    autotune = "off (" + " ".join(GPU_AUTOTUNE_OFF) + "): XLA's default kernels, no timing"
  elif platform == "cpu":
    deterministic = "the CPU backend (no flag needed)"
    autotune = "none (the CPU backend does not autotune)"
  else:
    deterministic = f"the {platform} backend's own (no flag set here)"
    autotune = f"the {platform} backend's own (no flag set here)"
  return Numerics(platform, name, PRECISIONS[name], flags, deterministic, autotune)


def expected_platform(platforms: str | None = None) -> str:
  """The backend JAX will start, found without starting it (XLA reads XLA_FLAGS once).

  `JAX_PLATFORMS` (or `jax_platforms`) decides when set; otherwise an
  installed GPU or TPU plugin (the `jax_plugins` packages and entry points
  JAX loads, or libtpu) means that backend; otherwise the CPU. Where a GPU
  plugin is installed but no GPU is found, JAX falls back to the CPU, which
  ignores the GPU flags.

  Args:
    platforms: JAX's platform list, e.g. "cuda,cpu" (default: `jax_platforms`,
      else `$JAX_PLATFORMS`).

  Returns:
    "cpu", "gpu", "tpu" (or another platform named first in the list).
  """
  if platforms is None:
    platforms = jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS", "")
  first = platforms.split(",")[0].strip()
  if first:
    return platform_name(first)
  plugins = [e.name for e in importlib.metadata.entry_points(group="jax_plugins")]
  if importlib.util.find_spec("jax_plugins") is not None:
    spec = importlib.util.find_spec("jax_plugins")
    for folder in spec.submodule_search_locations or ():
      plugins += os.listdir(folder) if os.path.isdir(folder) else []
  names = " ".join(plugins).lower()
  if "cuda" in names or "rocm" in names:
    return "gpu"
  if "tpu" in names or importlib.util.find_spec("libtpu") is not None:
    return "tpu"
  return "cpu"


def parse_xla_flags(text: str) -> dict[str, str]:
  """XLA_FLAGS as {name: value} (a flag given twice: the last wins, as in XLA).

  Args:
    text: the XLA_FLAGS string, `--name=value` or `--name` (true) separated by spaces.

  Returns:
    {name without dashes: value text}.
  """
  out = {}
  for flag in text.split():
    name, _, value = flag.lstrip("-").partition("=")
    out[name] = value if _ else "true"
  return out


def configure_xla_flags(platform: str | None = None,
                        environ: dict[str, str] | None = None) -> tuple[str, ...]:
  """Adds the backend's flags to XLA_FLAGS; must run before JAX starts its backend.

  A flag XLA_FLAGS already sets keeps the user's value.

  Args:
    platform: the backend (default `expected_platform()`).
    environ: the environment to change (default `os.environ`).

  Returns:
    The flags added.
  """
  environ = os.environ if environ is None else environ
  platform = expected_platform() if platform is None else platform_name(platform)
  given = environ.get("XLA_FLAGS", "")
  have = parse_xla_flags(given)
  added = tuple(f for f in FLAGS.get(platform, ()) if f.split("=")[0].lstrip("-") not in have)
  if added:
    environ["XLA_FLAGS"] = " ".join([given.strip(), *added]).strip()
  return added


def precision_scope(config):
  """A context in which traced programs use the config's matmul precision.

  Args:
    config: the sweep config (reads `precision`).

  Returns:
    `jax.default_matmul_precision(...)`'s context manager.

  Raises:
    ConfigError: for an unknown precision.
  """
  return jax.default_matmul_precision(PRECISIONS[precision_of(config)])


def apply_precision(config) -> str:
  """Sets `jax_default_matmul_precision` for the rest of the process.

  Args:
    config: the sweep config (reads `precision`).

  Returns:
    The value set.
  """
  value = PRECISIONS[precision_of(config)]
  jax.config.update("jax_default_matmul_precision", value)
  return value


def autotune_source(platform: str, xla_flags: str, cache_dir: str | None,
                    xla_caches: str | None) -> str:
  """Where a backend's kernel choices come from, from the flags in force.

  Args:
    platform: the backend.
    xla_flags: XLA_FLAGS as in force.
    cache_dir: JAX's compilation cache folder (None: off).
    xla_caches: `jax_persistent_cache_enable_xla_caches`.

  Returns:
    The source, in words.
  """
  platform = platform_name(platform)
  if platform != "gpu":
    return settings_for(platform, None).autotune
  level = parse_xla_flags(xla_flags).get(AUTOTUNE_LEVEL)
  if level == "0":
    return settings_for(platform, None).autotune
  timed = f"timed when compiled (autotune level {level or 'XLA default'})"
  if cache_dir and xla_caches and (xla_caches == "all" or AUTOTUNE_CACHE in xla_caches):
    return f"{timed}; kept in {os.path.join(cache_dir, AUTOTUNE_CACHE)} (the first timing decides)"
  return f"{timed} in each process (bits may differ between processes)"


def record(config, platform: str | None = None) -> dict[str, Any]:
  """The numerical settings in force, for environment.json (no None values).

  Args:
    config: the sweep config (reads `precision`).
    platform: the backend (default `jax.default_backend()`).

  Returns:
    {"platform", "precision", "matmul_precision", "precision_note",
     "deterministic", "deterministic_flags", "autotune"}: the flags as set in
    XLA_FLAGS (a user's own included), the autotune source as they decide it.
  """
  s = settings_for(platform or jax.default_backend(), config)
  flags = os.environ.get("XLA_FLAGS", "")
  given = parse_xla_flags(flags)
  determinism = [f"--{n}={given[n]}" for n in DETERMINISM_FLAGS + (AUTOTUNE_LEVEL,) if n in given]
  deterministic = s.deterministic
  if s.platform == "gpu":
    on = [f"--{n}={given[n]}" for n in DETERMINISM_FLAGS if given.get(n, "").lower() in TRUE]
    deterministic = ("XLA flag " + " ".join(on) if on else
                     "none: XLA may pick non-deterministic GPU kernels")
  note = PRECISION_NOTES[s.precision]
  if s.platform == "cpu":
    note += " (the CPU computes float32 at every setting)"
  return {"platform": s.platform, "precision": s.precision,
          "matmul_precision": s.matmul_precision, "precision_note": note,
          "deterministic": deterministic,
          "deterministic_flags": determinism if s.platform == "gpu" else [],
          "autotune": autotune_source(
              s.platform, flags, getattr(jax.config, "jax_compilation_cache_dir", None),
              getattr(jax.config, "jax_persistent_cache_enable_xla_caches", None))}


def describe(settings: Numerics) -> str:
  """The log's line for the settings.

  Args:
    settings: from `settings_for`.

  Returns:
    "numerics: ..." naming the precision, the flags and the autotune source.
  """
  flags = " ".join(settings.xla_flags) or "none"
  return (f"numerics: precision {settings.precision} ({PRECISION_NOTES[settings.precision]}); "
          f"XLA flags {flags}; autotune {settings.autotune}")
