"""Conversion between the canonical layout and other frameworks' layouts.

Usage:

  params = from_torch(torch_lstm.state_dict())   # tensors or arrays; every layer
  state_dict = to_torch(params)                  # NumPy arrays
  ys, carry = lstm.apply(from_keras(kernel, recurrent_kernel, bias), xs)   # one layer
  kernel, recurrent_kernel, bias = to_keras(params[0])

All functions work on NumPy arrays (anything `np.asarray` accepts, including
CPU torch tensors), so neither torch nor TensorFlow is needed to convert.

Layouts:
  canonical   W_x [I, 4H], W_h [H, 4H], b [4H]; gates (i, f, g, o).
  torch       weight_ih_l{k} [4H, I], weight_hh_l{k} [4H, H], bias_ih_l{k} and
              bias_hh_l{k} [4H]; gates (i, f, g, o). The effective bias is
              bias_ih + bias_hh; `to_torch` puts it all in bias_ih.
  keras       kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]; gates
              (i, f, c, o) where c is the candidate, i.e. the canonical order.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from lstm_init.core import arguments
from lstm_init.errors import ConfigError


def _np(x: Any) -> np.ndarray:
  if hasattr(x, "detach"):  # a torch tensor
    x = x.detach().cpu().numpy()
  return np.asarray(x)


def _check_layer(where: str, w_x: np.ndarray, w_h: np.ndarray, b: np.ndarray,
                 inputs: int | None) -> None:
  """Refuses a canonical layer whose shapes disagree: W_x [I, 4H], W_h [H, 4H], b [4H]."""
  hidden = w_h.shape[0] if w_h.ndim == 2 else 0
  ok = (w_x.ndim == 2 and w_h.shape == (hidden, 4 * hidden) and hidden >= 1
        and w_x.shape[1] == 4 * hidden and b.shape == (4 * hidden,)
        and (inputs is None or w_x.shape[0] == inputs))
  if not ok:
    raise ConfigError(f"{where}: inconsistent shapes: input kernel {w_x.shape}, recurrent "
                      f"kernel {w_h.shape}, bias {b.shape} (as [I, 4H], [H, 4H], [4H]); valid: "
                      "one hidden size H throughout, 4H = 4 x the recurrent kernel's H"
                      + ("" if inputs is None else f", I = {inputs} (the previous layer's H)"))


def from_torch(state_dict: Mapping[str, Any], num_layers: int | None = None
               ) -> list[dict[str, np.ndarray]]:
  """Converts a `torch.nn.LSTM` state dict (unidirectional) to canonical params.

  Args:
    state_dict: `weight_ih_l{k}` [4H, I], `weight_hh_l{k}` [4H, H] and optional
      `bias_ih_l{k}`, `bias_hh_l{k}` [4H] (tensors or arrays).
    num_layers: layers to read; None reads every layer of the state dict.

  Returns:
    Per layer `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}` (b = bias_ih + bias_hh),
    the list `lstm.apply` takes.

  Raises:
    ConfigError: (one line) for a state dict without layer 0, fewer layers
      than `num_layers`, a bidirectional or projected LSTM (`*_reverse`,
      `weight_hr_*`), or shapes that disagree.
  """
  keys = sorted(str(k) for k in state_dict)
  found = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "") if keys else "none"
  odd = [k for k in keys if k.endswith("_reverse") or k.startswith("weight_hr_")]
  if odd:
    raise ConfigError(f"from_torch: {odd[0]!r} belongs to a bidirectional or projected LSTM; "
                      "valid: the state dict of a unidirectional torch.nn.LSTM without "
                      "proj_size")
  present = 0
  while f"weight_ih_l{present}" in state_dict and f"weight_hh_l{present}" in state_dict:
    present += 1
  if num_layers is None:
    num_layers = max(present, 1)  # an empty state dict is refused for lacking layer 0
  num_layers = arguments.positive_int("from_torch", "num_layers", num_layers)
  if present < num_layers:
    missing = next(n for n in (f"weight_ih_l{present}", f"weight_hh_l{present}")
                   if n not in state_dict)
    raise ConfigError(f"from_torch: no {missing!r} in the state dict (keys: {found}); valid: "
                      "a torch.nn.LSTM state dict with weight_ih_l{k}, weight_hh_l{k} for "
                      f"k < num_layers={num_layers}")
  layers = []
  for k in range(num_layers):
    w_ih = _np(state_dict[f"weight_ih_l{k}"])
    w_hh = _np(state_dict[f"weight_hh_l{k}"])
    if w_ih.ndim != 2 or w_hh.ndim != 2:
      raise ConfigError(f"from_torch: layer {k}: weight_ih {w_ih.shape} and weight_hh "
                        f"{w_hh.shape} must be 2-D ([4H, I] and [4H, H])")
    b = np.zeros(w_ih.shape[:1], w_ih.dtype)
    for name in (f"bias_ih_l{k}", f"bias_hh_l{k}"):
      if name in state_dict:
        bias = _np(state_dict[name])
        if bias.shape != b.shape:
          raise ConfigError(f"from_torch: {name} has shape {bias.shape}; valid: "
                            f"{b.shape}, the rows of weight_ih_l{k}")
        b = b + bias
    _check_layer(f"from_torch layer {k}", w_ih.T, w_hh.T, b,
                 layers[-1]["W_h"].shape[0] if layers else None)
    layers.append({"W_x": w_ih.T.copy(), "W_h": w_hh.T.copy(), "b": b})
  return layers


def to_torch(params: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
  """Converts canonical params to a `torch.nn.LSTM` state dict of NumPy arrays.

  Args:
    params: per layer `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.

  Returns:
    `weight_ih_l{k}` [4H, I], `weight_hh_l{k}` [4H, H], `bias_ih_l{k}` [4H]
    (the whole bias) and `bias_hh_l{k}` [4H] zeros.
  """
  out = {}
  for k, p in enumerate(params):
    b = _np(p["b"])
    out[f"weight_ih_l{k}"] = _np(p["W_x"]).T.copy()
    out[f"weight_hh_l{k}"] = _np(p["W_h"]).T.copy()
    out[f"bias_ih_l{k}"] = b.copy()
    out[f"bias_hh_l{k}"] = np.zeros_like(b)
  return out


def from_keras(kernel: Any, recurrent_kernel: Any, bias: Any | None = None) -> dict[str, np.ndarray]:
  """Converts one Keras `LSTM` layer's weights to one canonical layer dict.

  `lstm.apply` takes the dict as a stack of one layer; a stack of several is
  the list `[from_keras(...), from_keras(...)]`.

  Args:
    kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H], or None for zeros.

  Returns:
    `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.

  Raises:
    ConfigError: (one line) when the three shapes disagree.
  """
  kernel, recurrent_kernel = _np(kernel), _np(recurrent_kernel)
  width = kernel.shape[-1] if kernel.ndim else 0
  b = np.zeros(width, kernel.dtype) if bias is None else _np(bias)
  _check_layer("from_keras", kernel, recurrent_kernel, b, None)
  return {"W_x": kernel.copy(), "W_h": recurrent_kernel.copy(), "b": b.copy()}


def to_keras(layer: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Converts one canonical layer to Keras `(kernel, recurrent_kernel, bias)`.

  Args:
    layer: `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.

  Returns:
    (kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]) NumPy copies.
  """
  return _np(layer["W_x"]).copy(), _np(layer["W_h"]).copy(), _np(layer["b"]).copy()
