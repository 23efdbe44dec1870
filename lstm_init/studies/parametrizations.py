"""The parametrizations the width studies compare, and what each sets in a config.

  cfg = condition_config(config, "mup", width=256)   # a config one sweep runs

A framework preset's name (keras, pytorch, flax_linen, ...) is its standard
parametrization: its own initialization and one learning rate for every
parameter. The maximal-update LSTM (the `mup` preset, this tool's extension
of Tensor Programs V to recurrent cells; its rules are in
`lstm_init.core.presets`) is the preset plus a zero readout, the per-layer
learning rates of `train.lr_scaling="mup"` and one treatment of the initial
state, in the variants of `MUP_CONDITIONS`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from lstm_init import dotted
from lstm_init.core.presets import PRESETS
from lstm_init.errors import ConfigError, require, unknown

STUDY_SECTIONS = ("width_transfer", "coord_check")  # read by the studies, not by a run

# The maximal-update LSTM (the `mup` preset's rules, lstm_init.core.presets):
# shared settings, then what each variant changes. "width" as a readout means
# standard deviation sqrt(base_width) / width (mup's MuReadout at that width).
MUP_COMMON = {"model.init.preset": "mup", "model.init.readout": "zeros",
              "train.lr_scaling": "mup", "model.initial_state.strategy": "zeros"}
MUP_CONDITIONS = {
    "mup": {},
    "mup_learned": {"model.initial_state.strategy": "learned",
                    "train.state_lr_scaling": "none"},
    "mup_learned_width": {"model.initial_state.strategy": "learned",
                          "train.state_lr_scaling": "width"},
    "mup_readout_width": {"model.init.readout": "width"},
}


def condition_names() -> list[str]:
  """Every condition the width studies accept: the presets and the muP variants."""
  return sorted(set(PRESETS) - {"mup"}) + list(MUP_CONDITIONS)


def condition_overrides(name: str, width: int, base_width: int) -> dict[str, Any]:
  """The config values of one condition at one width.

  Args:
    name: a preset name (standard parametrization: one learning rate) or one
      of `MUP_CONDITIONS`.
    width: the hidden size H.
    base_width: H0, where the maximal-update multipliers are 1.

  Returns:
    {dotted config path: value}, the hidden size included.

  Raises:
    ConfigError: for an unknown name.
  """
  if name in MUP_CONDITIONS:
    out = {**MUP_COMMON, **MUP_CONDITIONS[name], "train.base_width": int(base_width)}
    if out["model.init.readout"] == "width":
      out["model.init.readout"] = f"normal:{math.sqrt(base_width) / width:.8g}"
  elif name in PRESETS and name != "mup":
    out = {"model.init.preset": name}
  else:
    raise unknown("width-study condition", name, condition_names())
  out["model.hidden_size"] = int(width)
  return out


def condition_config(config, name: str, width: int):
  """A copy of `config` set to one condition at one width, without the studies' sections.

  Args:
    config: the study's config (scale applied).
    name, width: as in `condition_overrides`.

  Returns:
    The ConfigDict one sweep (or the coordinate check) runs.
  """
  cfg = copy.deepcopy(config)
  with cfg.unlocked():
    for section in STUDY_SECTIONS:
      if section in cfg:
        del cfg[section]
    cfg.sweep = ()
  for path, value in condition_overrides(name, width, int(config.train.base_width)).items():
    dotted.assign(cfg, path, value)
  return cfg


def parse_list(text: str, kind: type, field: str) -> list:
  """A comma-separated config value as a list (one line for a bad item)."""
  items = [t.strip() for t in str(text).split(",") if t.strip()]
  try:
    out = [kind(t) for t in items]
  except ValueError:
    raise ConfigError(f"bad value {text!r} for {field}; expected comma-separated "
                      f"{kind.__name__}s") from None
  require(len(out) > 0, f"{field} is empty; give comma-separated values")
  return out
