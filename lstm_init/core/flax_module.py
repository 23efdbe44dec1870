"""A Flax linen module over the same core, for people who compose Flax models.

Usage:

  model = LSTM(hidden_size=64, num_layers=2, preset="pytorch",
               init_overrides={"forget_bias": 1.0})
  variables = model.init(jax.random.key(0), xs)           # xs: [batch, time, I]
  ys, carry = model.apply(variables, xs)
  ys, carry = model.apply(variables, xs, deterministic=False,
                          rngs={"dropout": key})

The parameters are exactly `init_params`' layout, stored under one name:
`variables["params"]["layers"]` is the list of layer dicts, so
`lstm_init.core.lstm.apply(variables["params"]["layers"], xs)` gives the same
outputs.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from lstm_init.core import lstm
from lstm_init.core.presets import init_params


class LSTM(nn.Module):
  """An LSTM stack with lstm_init's presets.

  Attributes:
    hidden_size: H.
    num_layers: stacked layers.
    preset: initializer preset name (see `lstm_init.core.presets.PRESETS`).
    init_overrides: overrides passed to `init_params` (tuple of pairs or dict).
    residual, residual_scale, dropout, input_dropout, impl: as in `lstm.apply`.
  """

  hidden_size: int
  num_layers: int = 1
  preset: str = "keras"
  init_overrides: Any = ()
  residual: bool = False
  residual_scale: str | float = "sqrt_half"
  dropout: float = 0.0
  input_dropout: float = 0.0
  impl: str = "scan"

  @nn.compact
  def __call__(self, xs: jax.Array, carry=None, lengths=None, deterministic: bool = True):
    """xs: [batch, time, I] -> (ys [batch, time, H], list of per-layer (h, c))."""
    overrides = dict(self.init_overrides)
    layers = self.param(
        "layers",
        lambda key: init_params(key, xs.shape[-1], self.hidden_size, preset=self.preset,
                                num_layers=self.num_layers, **overrides))
    active = not deterministic and (self.dropout > 0 or self.input_dropout > 0)
    key = self.make_rng("dropout") if active else None
    return lstm.apply(layers, xs, carry, lengths, residual=self.residual,
                      residual_scale=self.residual_scale, dropout=self.dropout,
                      input_dropout=self.input_dropout, deterministic=deterministic,
                      key=key, impl=self.impl)
