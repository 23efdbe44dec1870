"""The building blocks of the initializers that jax.nn.initializers lacks.

  w = per_gate(orthogonal())(key, (hidden, 4 * hidden), jnp.float32)
  b = chrono_bias(t_max=100.0)(key, (4 * hidden,), jnp.float32)

Every function returns an initializer in the JAX protocol `(key, shape,
dtype) -> array`, in the canonical layout of `lstm_init.core.lstm`
(`W_h: [H, 4H]`, gate blocks i, f, g, o along the last axis). Initializers by
name, and their spelling in a config, are in `lstm_init.core.initializers`.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError

Initializer = Callable[..., jax.Array]

NUM_GATES = 4
GATES = ("i", "f", "g", "o")


def symmetric_uniform(limit: float) -> Initializer:
  """U(-limit, limit), the distribution PyTorch and Equinox use.

  Args:
    limit: half-width of the interval.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]` array.
  """

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -limit, limit)

  return init


def hidden_uniform() -> Initializer:
  """U(-1/sqrt(H), 1/sqrt(H)) with H read off the canonical last axis (4H).

  This is `torch.nn.LSTM.reset_parameters` and `equinox.nn.LSTMCell`: the limit
  depends on the hidden size only, not on fan-in or fan-out.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`, shape's last axis 4H.
  """

  def init(key, shape, dtype=jnp.float32):
    hidden = shape[-1] // NUM_GATES
    return symmetric_uniform(1.0 / math.sqrt(hidden))(key, shape, dtype)

  return init


def summed_hidden_uniform(count: int = 2) -> Initializer:
  """Sum of `count` independent `hidden_uniform` draws (PyTorch's b_ih + b_hh).

  Args:
    count: number of draws summed.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`, shape's last axis 4H.
  """

  def init(key, shape, dtype=jnp.float32):
    draws = hidden_uniform()(key, (count, *shape), dtype)
    return draws.sum(axis=0)

  return init


def scaled_identity(scale: float = 1.0) -> Initializer:
  """`scale * I` on a square matrix; use through `per_gate` for `[H, 4H]`.

  Args:
    scale: factor on the identity.

  Returns:
    An initializer `(key, shape, dtype) -> [rows, cols]`; the key is unused.

  Raises:
    ConfigError: (from the initializer) when the shape is not 2-D.
  """

  def init(key, shape, dtype=jnp.float32):
    del key
    if len(shape) != 2:
      raise ConfigError(f"identity initializer needs a 2-D shape, got {shape}")
    return scale * jnp.eye(shape[0], shape[1], dtype=dtype)

  return init


def householder_q(a: jax.Array) -> jax.Array:
  """Q of `a = QR` (`a: [m, n]`, m >= n) with a positive diagonal of R.

  Householder reflections written with `jnp` ops inside `lax.fori_loop`, so
  the draw never calls a LAPACK kernel. jaxlib's batched CPU QR
  (`lapack_sgeqrf_ffi`) blocks workers of XLA's CPU thread pool while it waits
  on sub-tasks of its own; several such QRs in one program, or one beside
  the other work of a sharded program, can block every worker and the program
  never returns. The positive-diagonal QR is unique, so this is the same Q as
  `jnp.linalg.qr(a)` times `sign(diag(R))` up to rounding (about 1e-6 in
  float32), and the same distribution (Haar, Mezzadri 2007).

  Args:
    a: [m, n] matrix, m >= n.

  Returns:
    [m, n] Q with orthonormal columns.

  Raises:
    ValueError: when m < n.
  """
  m, n = a.shape
  if m < n:
    raise ValueError(f"householder_q needs rows >= columns, got {a.shape}")
  rows = jnp.arange(m)

  def reflect(k, carry):
    r, us = carry
    x = jnp.where(rows >= k, jax.lax.dynamic_index_in_dim(r, k, axis=1, keepdims=False), 0)
    norm = jnp.sqrt(jnp.sum(x * x))
    sign = jnp.where(x[k] >= 0, 1.0, -1.0).astype(a.dtype)
    v = x + sign * norm * (rows == k)
    vv = jnp.sum(v * v)
    u = v * jnp.where(vv > 0, jnp.sqrt(2.0 / jnp.where(vv > 0, vv, 1.0)), 0.0)
    return r - jnp.outer(u, u @ r), us.at[k].set(u)  # (I - u u^T) r

  r, us = jax.lax.fori_loop(0, n, reflect, (a, jnp.zeros((n, m), a.dtype)))

  def accumulate(j, q):  # Q = H_0 H_1 ... H_{n-1} I[:, :n], applied right to left
    u = us[n - 1 - j]
    return q - jnp.outer(u, u @ q)

  q = jax.lax.fori_loop(0, n, accumulate, jnp.eye(m, n, dtype=a.dtype))
  return q * jnp.sign(jnp.diagonal(r)).astype(a.dtype)


def orthogonal(scale: float = 1.0) -> Initializer:
  """`jax.nn.initializers.orthogonal(scale)` without LAPACK (see `householder_q`).

  The same draw: a Gaussian `[max(r, c), min(r, c)]` matrix from the key, its
  Q with sign(diag R) folded in, transposed when the rows are fewer, where
  `r * c` is the shape with the last axis as columns.

  Args:
    scale: factor on the orthogonal matrix.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`.

  Raises:
    ConfigError: (from the initializer) when the shape has fewer than 2 axes.
  """

  def init(key, shape, dtype=jnp.float32):
    if len(shape) < 2:
      raise ConfigError(f"orthogonal initializer needs at least a 2-D shape, got {shape}")
    n_cols = shape[-1]
    n_rows = math.prod(shape) // n_cols
    z = jax.random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dtype)
    q = householder_q(z)
    if n_rows < n_cols:
      q = q.T
    return jnp.asarray(scale, dtype) * q.reshape(shape)

  return init


def per_gate(base: Initializer, num_gates: int = NUM_GATES) -> Initializer:
  """Applies `base` to each gate block of the last axis separately.

  `per_gate(orthogonal())` on `[H, 4H]` gives four independent `H x H`
  orthogonal blocks (`flax.linen.LSTMCell` and `flax.nnx.LSTMCell`), where
  `orthogonal()` on the whole matrix gives orthonormal rows across all four
  blocks (Keras `LSTM`, `flax.nnx.OptimizedLSTMCell`). The blocks are drawn by
  one vmapped call.

  Args:
    base: the initializer of one `[*lead, width / num_gates]` block.
    num_gates: blocks along the last axis.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`.

  Raises:
    ConfigError: (from the initializer) when the last axis is not divisible
      by `num_gates`.
  """

  def init(key, shape, dtype=jnp.float32):
    *lead, width = shape
    if width % num_gates:
      raise ConfigError(f"last axis {width} is not divisible by {num_gates} gates")
    block = (*lead, width // num_gates)
    keys = jax.random.split(key, num_gates)
    blocks = jax.vmap(lambda k: base(k, block, dtype))(keys)
    return jnp.concatenate(list(blocks), axis=-1)

  return init


def rows_of(base: Initializer, full_rows: int, offset: int = 0) -> Initializer:
  """Draws `base` on a taller `[full_rows, cols]` matrix and keeps some rows.

  This computes fan-in on a framework's own fused kernel. TF1 draws one
  `[I + H, 4H]` kernel for `concat([x, h])`; its `W_x` is rows `[0, I)` and its
  `W_h` rows `[I, I + H)` of such a draw.

  Args:
    base: the initializer of the full matrix.
    full_rows: rows of the full draw.
    offset: first row kept.

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`: rows
    `[offset, offset + shape[0])` of a `[full_rows, *shape[1:]]` draw.
  """

  def init(key, shape, dtype=jnp.float32):
    full = base(key, (full_rows, *shape[1:]), dtype)
    return full[offset : offset + shape[0]]

  return init


def chrono_bias(t_max: float) -> Initializer:
  """Chrono initialization (Tallec and Ollivier 2018) of the `[4H]` bias.

  b_f ~ log(U[1, t_max - 1]), b_i = -b_f, b_g = b_o = 0. The forget gate's
  retention sigmoid(b_f) then spans [1/2, (t_max - 1)/t_max], i.e. time scales
  1/(1 - sigmoid(b_f)) from 2 to t_max.

  Args:
    t_max: the longest time scale, > 2.

  Returns:
    An initializer `(key, shape, dtype) -> [4H]` bias.

  Raises:
    ConfigError: when `t_max <= 2`.
  """
  if not t_max > 2:
    raise ConfigError(f"chrono t_max must be > 2, got {t_max}")

  def init(key, shape, dtype=jnp.float32):
    hidden = shape[-1] // NUM_GATES
    b_f = jnp.log(jax.random.uniform(key, (hidden,), dtype, 1.0, t_max - 1.0))
    zeros = jnp.zeros((hidden,), dtype)
    return jnp.concatenate([-b_f, b_f, zeros, zeros])

  return init
