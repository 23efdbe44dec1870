"""Writing results: every file atomically (temporary file, then rename).

The sweep writes, in this order: `config.json` and `environment.json` first,
one JSON line per evaluation in `metrics.jsonl` as it goes, then
`results.csv`, `curves.npz`, `summary.json` and the report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterable, Mapping

import numpy as np


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old file or the new one.

  The file gets the mode a plain `open(path, "w")` would give it (0666 less
  the user's umask), not the 0600 of the temporary file it is written as,
  so colleagues and the other hosts of a shared filesystem can read it.

  Args:
    path: the file; its directory is created if missing.
    data: the file's whole content.

  Raises:
    OSError: when the file cannot be written (the temporary file is removed).
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    os.fchmod(fd, 0o666 & ~_umask())
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def json_default(o):
  """The `default` of `json.dumps` here: what to write for a non-JSON value.

  Args:
    o: the value `json` cannot encode itself.

  Returns:
    A NumPy scalar's Python value, an array's or a set's or tuple's list,
    else `str(o)`.
  """
  if isinstance(o, (np.floating, np.integer)):
    return o.item()
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, (set, tuple)):
    return list(o)
  return str(o)


def strict(obj: Any) -> Any:
  """`obj` with every undefined number (NaN, infinities) as None, for strict JSON.

  Args:
    obj: a value of dicts, lists, tuples, sets, floats, NumPy scalars and arrays, ...
  Returns:
    The same structure (tuples, sets and arrays as lists) with non-finite floats None;
    other values unchanged (`json_default` writes them).
  """
  if isinstance(obj, dict):
    return {k: strict(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple, set)):
    return [strict(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return strict(obj.tolist())
  if isinstance(obj, (np.floating, np.integer, np.bool_)):
    obj = obj.item()
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def dumps(obj: Any, **kwargs) -> str:
  """Strict JSON text of `obj`: an undefined number is null, never NaN or Infinity
  (which JavaScript's `JSON.parse` and most non-Python parsers refuse).

  Args:
    obj: the value (see `strict`); NumPy values and others through `json_default`.
    **kwargs: passed to `json.dumps` (e.g. indent).
  Returns:
    The text.
  """
  return json.dumps(strict(obj), default=json_default, allow_nan=False, **kwargs)


def write_json(path: str, obj: Any) -> None:
  """Writes `obj` as indented, strict JSON (`dumps`: NaN and infinities as null),
  atomically.

  Args:
    path: the file.
    obj: the value; NumPy values and others through `json_default`.
  """
  atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode())


def exact(v: float) -> str:
  """The shortest text that reads back as exactly `v`: the float32 spelling when
  `v` is a float32 value (every result of a run is), else Python's.

  Args:
    v: the number.

  Returns:
    Its text.
  """
  single = np.float32(v)
  return str(single) if float(single) == v or v != v else repr(float(v))


def read_exact(text: str) -> float:
  """The float that `exact` wrote as `text` (its float32 value where it was one).

  Args:
    text: a number written by `exact`.

  Returns:
    The float.
  """
  single = float(np.float32(text))
  return single if exact(single) == text.strip() else float(text)


def write_csv(path: str, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
  """Rows as CSV; floats exactly (`exact`), so the file holds a run's bits.

  Args:
    path: the file, written atomically.
    rows: one mapping per row; keys outside `columns` are ignored.
    columns: the header, in order.
  """
  buf = io.StringIO()
  w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
  w.writeheader()
  for r in rows:
    w.writerow({k: (exact(v) if isinstance(v, float) else v) for k, v in r.items()})
  atomic_write_bytes(path, buf.getvalue().encode())


def read_csv(path: str) -> list[dict[str, str]]:
  """Reads a CSV file with a header row.

  Args:
    path: the file.

  Returns:
    One {column: text} dict per row.
  """
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def write_npz(path: str, **arrays) -> None:
  """Writes arrays as an uncompressed `.npz`, atomically.

  Args:
    path: the file.
    **arrays: the arrays by name.
  """
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  atomic_write_bytes(path, buf.getvalue())


def append_jsonl(path: str, record: Mapping[str, Any]) -> None:
  """Appends one strict JSON line (metrics as the sweep goes; a crash loses at most
  one; a diverged run's NaN loss is null).

  Args:
    path: the `.jsonl` file.
    record: the line's value.
  """
  with open(path, "a") as f:
    f.write(dumps(record) + "\n")
    f.flush()


def git_commit() -> str | None:
  """The commit of the package's checkout.

  Returns:
    `git rev-parse HEAD` of the directory of this file, or None outside a git
    checkout or without git.
  """
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                         text=True, timeout=5)
    return out.stdout.strip() or None if out.returncode == 0 else None
  except (OSError, subprocess.SubprocessError):
    return None


def process_start_time() -> float | None:
  """When this process started (seconds since the epoch; Linux /proc), else None.

  Returns:
    The start time, or None where /proc cannot be read.
  """
  try:
    with open("/proc/self/stat") as f:
      start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    return time.time() - uptime + start_ticks / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return None


def cpu_model() -> str:
  """The processor's model name (XLA compiles CPU code for it), or the machine type.

  Returns:
    The name from /proc/cpuinfo, else `platform.processor()` or `platform.machine()`.
  """
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


# What decides a run's bits beside the command (`experiments.reproduce`
# compares these with the environment it runs in). The seed group sizes are
# recorded beside them, as `seed_groups`.
BIT_FIELDS = ("versions.jax", "versions.jaxlib", "versions.flax", "versions.optax",
              "versions.chex", "versions.numpy", "backend", "device_kinds", "cpu_model",
              "x64", "default_matmul_precision", "prng_impl", "xla_flags",
              "numerics.precision", "numerics.deterministic_flags", "numerics.autotune")
# An XLA flag that only says how many host devices the CPU is cut into: a
# seed's bits do not depend on it (tested), so it is left out of comparisons.
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def bit_fields(env: Mapping[str, Any]) -> dict[str, Any]:
  """The `BIT_FIELDS` of an `environment()` record, by dotted name (None: absent).

  Args:
    env: an `environment()` record (e.g. read from environment.json).

  Returns:
    {dotted name: value}; `xla_flags` without `HOST_DEVICES_FLAG`.
  """
  out = {}
  for name in BIT_FIELDS:
    node: Any = env
    for part in name.split("."):
      node = node.get(part) if isinstance(node, Mapping) else None
    if name == "xla_flags" and isinstance(node, str):
      node = " ".join(f for f in node.split() if not f.startswith(HOST_DEVICES_FLAG))
    out[name] = node
  return out


def environment(numerics: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """Versions, backend and devices: what a reader needs to repeat a run.

  Args:
    numerics: the numerical settings in force (`lstm_init.engine.runtime.numerics.record`):
      recorded as `numerics`, and its `matmul_precision` as
      `default_matmul_precision`. Without it, JAX's setting is recorded, or
      "<backend> default" where JAX has none.

  Returns:
    The record written as environment.json: versions, backend, device kinds
    and counts, JAX settings, the numerical settings, XLA_FLAGS, command, git
    commit, platform, CPU.
  """
  import jax
  import jaxlib
  versions = {"python": sys.version.split()[0], "jax": jax.__version__,
              "jaxlib": jaxlib.__version__, "numpy": np.__version__}
  for mod in ("flax", "optax", "chex", "scipy", "ml_collections"):
    try:
      versions[mod] = __import__(mod).__version__
    except (ImportError, AttributeError):
      versions[mod] = None
  devices = jax.devices()
  backend = jax.default_backend()
  precision = jax.config.jax_default_matmul_precision
  if numerics is not None:
    precision = numerics["matmul_precision"]
  record = {
      "versions": versions,
      "backend": backend,
      "device_kinds": sorted({d.device_kind for d in devices}),
      "device_count": jax.device_count(),
      "local_device_count": jax.local_device_count(),
      "process_count": jax.process_count(),
      "x64": bool(jax.config.jax_enable_x64),
      "default_matmul_precision": f"{backend} default" if precision is None else str(precision),
      "prng_impl": str(jax.config.jax_default_prng_impl),
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "compilation_cache": jax.config.jax_compilation_cache_dir,
      "command": sys.argv,
      "git_commit": git_commit(),
      "platform": platform.platform(),
      "cpu_model": cpu_model(),
      "cpu_count": os.cpu_count(),
  }
  if numerics is not None:
    record["numerics"] = dict(numerics)
  return record
