"""Conversion between the canonical layout and other frameworks' layouts.

Usage:

  params = from_torch(torch_lstm.state_dict(), num_layers=2)   # tensors or arrays
  state_dict = to_torch(params)                                # NumPy arrays
  params = [from_keras(kernel, recurrent_kernel, bias)]
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


def _np(x: Any) -> np.ndarray:
  if hasattr(x, "detach"):  # a torch tensor
    x = x.detach().cpu().numpy()
  return np.asarray(x)


def from_torch(state_dict: Mapping[str, Any], num_layers: int) -> list[dict[str, np.ndarray]]:
  """Converts a `torch.nn.LSTM` state dict (unidirectional) to canonical params.

  Args:
    state_dict: `weight_ih_l{k}` [4H, I], `weight_hh_l{k}` [4H, H] and optional
      `bias_ih_l{k}`, `bias_hh_l{k}` [4H] (tensors or arrays).
    num_layers: layers to read.

  Returns:
    Per layer `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}` (b = bias_ih + bias_hh).
  """
  layers = []
  for k in range(num_layers):
    w_ih = _np(state_dict[f"weight_ih_l{k}"])
    w_hh = _np(state_dict[f"weight_hh_l{k}"])
    b = np.zeros(w_ih.shape[0], w_ih.dtype)
    for name in (f"bias_ih_l{k}", f"bias_hh_l{k}"):
      if name in state_dict:
        b = b + _np(state_dict[name])
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

  Args:
    kernel: [I, 4H]; recurrent_kernel: [H, 4H]; bias: [4H], or None for zeros.

  Returns:
    `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.
  """
  kernel = _np(kernel)
  b = np.zeros(kernel.shape[1], kernel.dtype) if bias is None else _np(bias)
  return {"W_x": kernel.copy(), "W_h": _np(recurrent_kernel).copy(), "b": b.copy()}


def to_keras(layer: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Converts one canonical layer to Keras `(kernel, recurrent_kernel, bias)`.

  Args:
    layer: `{"W_x": [I, 4H], "W_h": [H, 4H], "b": [4H]}`.

  Returns:
    (kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]) NumPy copies.
  """
  return _np(layer["W_x"]).copy(), _np(layer["W_h"]).copy(), _np(layer["b"]).copy()
