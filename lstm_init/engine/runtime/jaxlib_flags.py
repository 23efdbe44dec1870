"""Which XLA flags the installed jaxlib knows: a flag it does not know aborts XLA at start.

  unknown(["xla_gpu_deterministic_ops"])   # [] when every name is known
  libraries()                              # the shared libraries searched

XLA registers each flag by its name, a C string in the library that holds
XLA (jaxlib's, and a GPU or TPU plugin's own), so a name that no installed
library holds cannot be parsed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import mmap
import os
from typing import Iterable


def libraries() -> list[str]:
  """The shared libraries of the installed jaxlib and JAX plugins (where XLA's flags are).

  Returns:
    Paths of `.so` files.
  """
  folders = []
  for name in ("jaxlib", "jax_plugins"):
    spec = importlib.util.find_spec(name)
    if spec is not None:
      folders += list(spec.submodule_search_locations or ())
  for dist in ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm-plugin", "libtpu"):
    try:
      files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
      continue
    folders += sorted({os.path.dirname(str(f.locate())) for f in files if ".so" in f.name})
  paths = []
  for folder in dict.fromkeys(folders):
    for root, _, names in os.walk(folder):
      paths += [os.path.join(root, n) for n in names if n.endswith(".so") or ".so." in n]
  return paths


def unknown(names: Iterable[str], paths: Iterable[str] | None = None) -> list[str]:
  """The flag names no installed jaxlib library holds (as a C string).

  XLA registers each flag by its name; a name missing from every library
  would abort XLA at start when it is in XLA_FLAGS.

  Args:
    names: flag names without dashes.
    paths: the files to search (default `libraries()`).

  Returns:
    The names not found, in order.
  """
  wanted = {n: n.encode() + b"\0" for n in names}
  found = set()
  for path in libraries() if paths is None else paths:
    if len(found) == len(wanted):
      break
    with open(path, "rb") as f, contextlib.suppress(ValueError):
      with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        found |= {n for n, b in wanted.items() if n not in found and m.find(b) >= 0}
  return [n for n in wanted if n not in found]
