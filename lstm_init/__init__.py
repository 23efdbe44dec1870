"""lstm_init: how LSTM initialization decides training outcomes, measured in JAX."""

from lstm_init import initializers, interop, lstm, states
from lstm_init.errors import ConfigError
from lstm_init.initializers import PRESETS, get_initializer, init_params
from lstm_init.lstm import apply

__all__ = ["ConfigError", "PRESETS", "apply", "get_initializer", "init_params",
           "initializers", "interop", "lstm", "states"]
