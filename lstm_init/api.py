"""Sweeps from Python, without flags: a notebook's or a script's way in.

  import lstm_init
  config = lstm_init.config("configs/copy.py", **{"model.hidden_size": 64})
  result = lstm_init.sweep(config, sweep=["model.init.preset=keras,chrono"])
  result.runs       # pandas DataFrame, one row per run
  result.curves     # long DataFrame: condition, seed, step, split, value
  result.summary    # DataFrame, one row per condition

The checks are the command line's: an unknown field, a value of the wrong
type or out of range, a value no run would use, each raise `ConfigError` with
the line the command line prints. `sweep` without a workdir writes
`runs/<name>-<digest of what it runs>`, so the same call after an interrupt
(Ctrl-C, or the notebook's stop button) resumes from its checkpoint, and the
same call after it finished reads the results back without training.
In Jupyter the progress is a bar (`tqdm.auto`); elsewhere, today's lines.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from typing import Any, Callable, Sequence

import ml_collections

from lstm_init.engine import sweep as sweep_lib
from lstm_init.engine.runtime import cache, devices, numerics
from lstm_init.engine.spec import axes as axes_lib
from lstm_init.engine.spec import plan as plan_lib
from lstm_init.errors import ConfigError
from lstm_init.report.results import SweepResults

DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                       "default.py")


def config(path: str | None = None, **overrides: Any) -> ml_collections.ConfigDict:
  """A config file's config with `overrides` set, checked as the command line does.

  Args:
    path: a config file (a Python file with `get_config()`); default the
      embedded default sweep's (`configs/default.py`).
    **overrides: dotted field paths and their values, as `--config.<path>=<value>`:
      a value may be given typed (64, 0.1, True) or as the command line's text.

  Returns:
    The ConfigDict. As on the command line, an override of a field that the
    config's default `sweep` varies replaces that axis (the axis is removed
    from `sweep`), and an override that no run would use is refused.

  Raises:
    ConfigError: (one line) for a file that does not load, an unknown field, a
      value of the wrong type or one that no run would use.
  """
  path = path or DEFAULT
  cfg = load_config_file(path)
  given = {}
  for field, value in overrides.items():
    given[field] = set_value(cfg, field, value)
  if given:
    plan_lib.plan_sweep(cfg, None, given)  # the command line's checks, now
    axes, _ = axes_lib.resolve_axes(cfg, None, given)
    cfg.sweep = tuple(axes)
  return cfg


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """`get_config()` of a config file, or a one-line ConfigError."""
  if os.path.isdir(path):
    raise ConfigError(f"config file {path!r} is a folder; valid: a Python file defining "
                      "get_config()")
  if not os.path.isfile(path):
    raise ConfigError(f"config file {path!r} does not exist; valid: a Python file defining "
                      "get_config()")
  spec = importlib.util.spec_from_file_location(
      "lstm_init_config_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8], path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    make = getattr(module, "get_config")
  except AttributeError:
    raise ConfigError(f"config file {path} has no get_config(); valid: a file defining "
                      "get_config() that returns an ml_collections.ConfigDict") from None
  except Exception as e:  # noqa: BLE001 - every way a config file can fail is one line
    raise ConfigError(f"config file {path} failed to load: {type(e).__name__}: {e}") from None
  try:
    value = make()
  except ConfigError:
    raise
  except Exception as e:  # noqa: BLE001 - a config file's own error is one line, as on the CLI
    raise ConfigError(f"config file {path}: get_config raised {type(e).__name__}: "
                      f"{' '.join(str(e).split())}") from None
  if not isinstance(value, ml_collections.ConfigDict):
    raise ConfigError(f"config file {path}: get_config() returned a {type(value).__name__}; "
                      "valid: an ml_collections.ConfigDict")
  return value


def set_value(cfg: ml_collections.ConfigDict, field: str, value: Any) -> Any:
  """Sets one override as `--config.<field>=<value>` would; returns the typed value.

  A typed value goes through its text, so that it is parsed and checked exactly
  as the command line's (`True`, `64`, `0.1`, a tuple as `a;b`).
  """
  if callable(value):
    raise ConfigError(f"{field}={value!r}: a config holds names and numbers, not functions; "
                      "valid: an initializer name (lstm_init.core.initializers."
                      "initializer_names()), lstm_init.init_params(..., input_kernel=fn) for a "
                      "function of your own, or a 'module:factory' experiment plug-in")
  if isinstance(value, (tuple, list)):
    text = ";".join(str(v) for v in value)
  elif isinstance(value, float):
    text = repr(value)
  else:
    text = str(value)
  return axes_lib.set_from_text(cfg, field, text)


def sweep(cfg: ml_collections.ConfigDict, sweep: Sequence[str] | None = None,
          workdir: str | None = None, *, overwrite: bool = False, progress: str = "auto",
          log: Callable[[str], None] = print) -> SweepResults:
  """Trains a config's conditions x seeds and returns the results, typed.

  Args:
    cfg: a config (from `config`, or any ConfigDict of the project's fields).
    sweep: axes "path=v1,v2"; default the config's own `sweep`.
    workdir: where the results go; default runs/<name>-<digest of what runs>,
      the same folder for the same call, so that a call interrupted resumes.
    overwrite: replace a workdir that holds another config's results.
    progress: "bar" (tqdm.auto), "lines" (the command line's), or "auto" (a
      bar inside Jupyter, lines elsewhere).
    log: where lines go.

  Returns:
    `SweepResults` (as `load_results(workdir)` would read it back).

  Raises:
    ConfigError: (one line) for a bad value.
    Interrupted: (one line) for an interruption: the checkpoint is written and
      the same call resumes.
  """
  if not isinstance(cfg, ml_collections.ConfigDict):
    raise ConfigError(f"sweep() takes a config (lstm_init.config(...)), got a "
                      f"{type(cfg).__name__}")
  devices.configure_cpu_devices([])   # before the backend starts (no effect once it has)
  numerics.configure_xla_flags()
  cache.enable(None)
  plan = plan_lib.plan_sweep(cfg, sweep)
  return sweep_lib.run_sweep(cfg, workdir, sweep, log=log, plan=plan, overwrite=overwrite,
                             progress="bar" if _use_bar(progress) else "lines")


def in_notebook() -> bool:
  """Whether this runs in a Jupyter kernel."""
  shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
  return type(shell).__name__ == "ZMQInteractiveShell"


def _use_bar(progress: str) -> bool:
  if progress not in ("auto", "bar", "lines"):
    raise ConfigError(f"progress={progress!r}; valid choices: auto, bar, lines")
  return progress == "bar" or (progress == "auto" and in_notebook())
