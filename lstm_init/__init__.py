"""lstm_init: how LSTM initialization decides training outcomes, measured in JAX.

  params = lstm_init.init_params(key, input_size, hidden_size, preset="keras")
  ys, carry = lstm_init.apply(params, xs)
  train = lstm_init.make_train(config)            # pure: train(key) -> metrics
  result = lstm_init.run_sweep(config, workdir)   # conditions x seeds, recorded
"""

from lstm_init import initializers, interop, lstm, states, stats
from lstm_init.errors import ConfigError
from lstm_init.initializers import PRESETS, get_initializer, init_params
from lstm_init.lstm import apply

# The sweep stack (tasks, training, records) loads on first use, so that
# `import lstm_init.stats` or `lstm_init.lstm` stays light.
_LAZY = {"run_sweep": "lstm_init.sweep", "make_train": "lstm_init.experiment",
         "load_results": "lstm_init.results"}


def __getattr__(name):
  if name in _LAZY:
    import importlib
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'lstm_init' has no attribute {name!r}")

__all__ = ["ConfigError", "PRESETS", "apply", "get_initializer", "init_params",
           "initializers", "interop", "lstm", "make_train", "run_sweep", "states", "stats"]
