"""Keys: one root per experiment, one key per seed, named streams per run.

Usage:

  root = root_key(config.seed)
  keys = run_keys(root, seed_index=jnp.arange(64), fixed=("data",))
  keys["init"], keys["data"], keys["dropout"], keys["noise"]   # each [64] keys

Seed i's key is `fold_in(root, i)`, so seed i gets the same streams whether it
runs alone or beside a thousand others. A stream listed in `fixed` takes its
key from seed `fixed_index` (0 by default) for every run: with
`fixed=("data",)` all seeds see the same batches and differ only in
initialization. A crossed design gives each stream its own index (see
`run_keys`'s `stream_index`).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import jax
import jax.numpy as jnp

from lstm_init.errors import ConfigError, unknown

STREAMS = ("init", "data", "dropout", "noise")
_STREAM_ID = {name: i + 1 for i, name in enumerate(STREAMS)}
EVAL_STREAM = 1001
PERTURB_STREAM = 1002
_REFUSED_IMPLS = ("rbg", "unsafe_rbg")


def check_prng_impl() -> None:
  """Refuses PRNG implementations whose keys do not respect `vmap`.

  With `rbg` and `unsafe_rbg` every element of a vmapped batch of keys draws
  from the first key, so a vmapped sweep would silently train one seed many
  times.

  Raises:
    ConfigError: when `jax_default_prng_impl` is `rbg` or `unsafe_rbg`.
  """
  impl = str(jax.config.jax_default_prng_impl)
  if impl in _REFUSED_IMPLS:
    raise ConfigError(f"PRNG implementation {impl!r} breaks vmap over seeds; valid "
                      "choices: threefry2x32 (set jax_default_prng_impl=threefry2x32)")


def root_key(seed: int) -> jax.Array:
  """The experiment's root key (typed, threefry).

  Args:
    seed: the experiment's integer seed.

  Returns:
    A scalar typed key.

  Raises:
    ConfigError: from `check_prng_impl`.
  """
  check_prng_impl()
  return jax.random.key(int(seed))


def parse_streams(spec: str | Iterable[str]) -> tuple[str, ...]:
  """Parses `"data,dropout"` (or a sequence) into stream names, checking each.

  Args:
    spec: comma-separated names or an iterable of names; blanks are dropped.

  Returns:
    The stream names, in the order given.

  Raises:
    ConfigError: for a name not in `STREAMS`.
  """
  names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
  names = tuple(n for n in names if n)
  for n in names:
    if n not in STREAMS:
      raise unknown("stream", n, STREAMS)
  return names


def streams_of(seed_key: jax.Array) -> dict[str, jax.Array]:
  """Every named stream of one seed from its key `fold_in(root, i)`.

  Args:
    seed_key: one seed's scalar key.

  Returns:
    A dict from each name in `STREAMS` to a scalar key.
  """
  return {name: jax.random.fold_in(seed_key, _STREAM_ID[name]) for name in STREAMS}


def stream_key(root: jax.Array, index: jax.Array, name: str) -> jax.Array:
  """The key of stream `name` for the run with seed index `index`.

  Args:
    root: the experiment's root key.
    index: scalar int seed index (may be traced).
    name: a stream in `STREAMS`.

  Returns:
    A scalar key.
  """
  return streams_of(jax.random.fold_in(root, index))[name]


def run_keys(root: jax.Array, seed_index: jax.Array, fixed: Iterable[str] = (),
             fixed_index: int = 0,
             stream_index: Mapping[str, jax.Array] | None = None) -> dict[str, jax.Array]:
  """Named stream keys for a batch of runs.

  Args:
    root: the experiment's root key.
    seed_index: [runs] ints, each run's seed index.
    fixed: streams held fixed across runs (they use `fixed_index`).
    fixed_index: the seed index fixed streams take their key from.
    stream_index: optional per-stream [runs] indices overriding `seed_index`
      (a crossed design: `{"init": i, "data": j}`).

  Returns:
    A dict from stream name to [runs] keys.
  """
  fixed = set(parse_streams(fixed))
  seed_index = jnp.asarray(seed_index)
  out = {}
  for name in STREAMS:
    idx = seed_index
    if stream_index is not None and name in stream_index:
      idx = jnp.asarray(stream_index[name])
    if name in fixed:
      idx = jnp.full_like(seed_index, fixed_index)
    out[name] = jax.vmap(lambda i, n=name: stream_key(root, i, n))(idx)
  return out


def perturb_key(root: jax.Array, base: jax.Array, perturbation: jax.Array) -> jax.Array:
  """The key that picks which parameter element perturbation j of base seed b
  flips (the instability design, `lstm_init.core.perturb`): apart from the streams.

  Args:
    root: the experiment's root key.
    base: scalar int base seed index.
    perturbation: scalar int perturbation index j.

  Returns:
    A scalar key.
  """
  seed_key = jax.random.fold_in(root, base)
  return jax.random.fold_in(jax.random.fold_in(seed_key, PERTURB_STREAM), perturbation)


def eval_key(eval_seed: int) -> jax.Array:
  """The key of the evaluation data: the same for every seed and condition.

  Args:
    eval_seed: the evaluation seed.

  Returns:
    A scalar key.
  """
  return jax.random.fold_in(jax.random.key(int(eval_seed)), EVAL_STREAM)


def is_key(x) -> bool:
  """Whether `x` (an array or its shape) holds typed PRNG keys.

  Args:
    x: anything; only a `dtype` counts.
  Returns:
    True for a typed-key dtype.
  """
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
