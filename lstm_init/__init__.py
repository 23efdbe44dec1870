"""lstm_init: how LSTM initialization decides training outcomes, measured in JAX.

  params = lstm_init.init_params(key, input_size, hidden_size, preset="keras")
  ys, carry = lstm_init.apply(params, xs)
  train = lstm_init.make_train(config)            # pure: train(key) -> metrics
  result = lstm_init.run_sweep(config, workdir)   # conditions x seeds, recorded
  results = lstm_init.load_results(workdir)       # a finished sweep, typed

From Python without flags (a notebook), with the command line's checks:

  config = lstm_init.config("configs/copy.py", **{"model.hidden_size": 64})
  result = lstm_init.sweep(config, sweep=["model.init.preset=keras,chrono"])
  result.runs, result.curves, result.summary      # pandas DataFrames
  lstm_init.aggregate(["runs/adding", "runs/copy"])  # conditions ranked across tasks

The package has five layers, each importing only those below it
(`docs/architecture.md`, enforced by `tests/test_architecture.py`):

  core      the LSTM and RNN cells, initializers, presets, initial states, keys, stats
  training  the experiment interface, the update step, supervised, tasks, A2C
  engine    config, plan, compiled programs, the host loop, hooks, checkpoints
  report    loading results, the summary, tables, figures, the report
  studies   best seed, signal propagation, diagnostics
"""

from lstm_init.core import initial_states, initializers, interop, keys, lstm, presets, stats
from lstm_init.core.initializers import get_initializer
from lstm_init.core.lstm import apply
from lstm_init.core.presets import PRESETS, init_params
from lstm_init.errors import ConfigError, Interrupted, OutOfMemory

# The sweep stack (tasks, training, the engine, the report) loads on first use,
# so that `import lstm_init` and `lstm_init.core.stats` stay light.
_LAZY = {"run_sweep": "lstm_init.engine.sweep", "make_train": "lstm_init.training.experiment",
         "Experiment": "lstm_init.training.experiment",
         "apply_update": "lstm_init.training.step",
         "load_results": "lstm_init.report.results", "SweepResults": "lstm_init.report.results",
         "write_report": "lstm_init.report.document",
         "config": "lstm_init.api", "sweep": "lstm_init.api",
         "aggregate": "lstm_init.report.aggregate"}


def __getattr__(name):
  if name in _LAZY:
    import importlib  # pylint: disable=g-import-not-at-top
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'lstm_init' has no attribute {name!r}")


__all__ = ["ConfigError", "Experiment", "Interrupted", "OutOfMemory", "PRESETS", "SweepResults", "aggregate", "apply",
           "apply_update", "config", "get_initializer", "init_params", "initial_states", "initializers",
           "interop", "keys", "load_results", "lstm", "make_train", "presets", "run_sweep",
           "stats", "sweep", "write_report"]
