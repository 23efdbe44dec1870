"""Initializers by name, with their arguments, as researchers spell them.

  init = get_initializer("orthogonal_per_gate")
  init = get_initializer("variance_scaling(scale=2, mode=fan_out, distribution=uniform)")
  init = get_initializer("variance_scaling:2:fan_out:uniform")     # the same, no brackets
  init = get_initializer("VarianceScaling(scale=2.0, mode='fan_out')")   # Keras' class name
  w = init(key, (hidden, 4 * hidden), jnp.float32)
  initializer_names()        # {name: its arguments with their defaults}

A spec is a name and its arguments, either in parentheses (`name(a, k=v)`,
quotes optional) or after colons (`name:a:b`, `name:k=v`); arguments are
given in order or by name, and omitted ones take their defaults. Keras'
class names (`VarianceScaling`, `GlorotUniform`, `HeNormal`, ...) name the
same initializers. Every initializer follows the JAX protocol `(key, shape,
dtype) -> array`, so it plugs into `flax.linen.Dense` and friends as well;
the variance-scaling family is `jax.nn.initializers.variance_scaling`, whose
fans are Keras' on the canonical shapes of `lstm_init.core.lstm` (`W_x: [I,
4H]`: fan_in I, fan_out 4H; `W_h: [H, 4H]`). The building blocks are in
`lstm_init.core.init_blocks` (re-exported here); the framework presets built
from them are in `lstm_init.core.presets`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

import jax

from lstm_init.core.init_blocks import (GATES, NUM_GATES, Initializer, chrono_bias,
                                        hidden_uniform, householder_q, orthogonal, per_gate,
                                        rows_of, scaled_identity, summed_hidden_uniform,
                                        symmetric_uniform)
from lstm_init.errors import ConfigError, unknown

__all__ = ["GATES", "NUM_GATES", "Initializer", "canonical_spec", "chrono_bias",
           "describe_initializers", "get_initializer", "hidden_uniform", "householder_q",
           "initializer_names", "orthogonal", "parse_spec", "per_gate", "rows_of",
           "scaled_identity", "summed_hidden_uniform", "symmetric_uniform", "variance_scaling"]

_INIT = jax.nn.initializers
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# jax.nn.initializers' name of each distribution (its "normal" is untruncated)
_JAX_DISTRIBUTION = {"truncated_normal": "truncated_normal", "untruncated_normal": "normal",
                     "uniform": "uniform"}


def variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal") -> Initializer:
  """Keras' `VarianceScaling`: variance `scale / n`, n the fan that `mode` names.

  `truncated_normal` draws N(0, 1) truncated to [-2, 2], times
  `sqrt(scale / n) / 0.87962566103423978` (the std of that truncated normal),
  so the draws' std is `sqrt(scale / n)`; `untruncated_normal` draws
  N(0, scale / n); `uniform` draws U(-sqrt(3 scale / n), sqrt(3 scale / n)).
  For a shape of 2 axes or more this is `jax.nn.initializers.variance_scaling`
  (the same draws): fan_in is `shape[-2]` times the receptive field (the
  product of the other leading axes), fan_out `shape[-1]` times it, as in
  Keras; a 1-D shape `[n]` has fan_in = fan_out = n, as in Keras.

  Args:
    scale: the variance's numerator, > 0 (1: Glorot/LeCun, 2: He).
    mode: "fan_in", "fan_out" or "fan_avg" (their mean).
    distribution: "truncated_normal", "untruncated_normal" or "uniform".

  Returns:
    An initializer `(key, shape, dtype) -> [*shape]`.

  Raises:
    ConfigError: for a scale that is not a finite number > 0, or an unknown
      mode or distribution.
  """
  if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
    raise ConfigError(f"bad scale {scale!r} for variance_scaling; valid: a finite number > 0")
  if mode not in MODES:
    raise unknown("variance_scaling mode", mode, MODES)
  if distribution == "normal":
    raise ConfigError("variance_scaling distribution 'normal' means untruncated in JAX and "
                      "truncated in older Keras; valid choices: " + ", ".join(DISTRIBUTIONS))
  if distribution not in DISTRIBUTIONS:
    raise unknown("variance_scaling distribution", distribution, DISTRIBUTIONS)
  jax_dist = _JAX_DISTRIBUTION[distribution]
  jax_init = _INIT.variance_scaling(float(scale), mode, jax_dist)

  def init(key, shape, dtype=jax.numpy.float32):
    if len(shape) >= 2:
      return jax_init(key, shape, dtype)
    # Keras' fans of a 0-D or 1-D shape: fan_in = fan_out = n (1 for a scalar).
    # JAX's need two axes: draw [1, n] (fan_in 1) with the variance scale / n.
    n = shape[0] if shape else 1
    flat = _INIT.variance_scaling(float(scale) / n, "fan_in", jax_dist)(key, (1, n), dtype)
    return flat.reshape(shape)

  return init


# --------------------------------------------------------------------------
# Initializers by name.


@dataclasses.dataclass(frozen=True)
class _Param:
  name: str
  default: Any
  choices: tuple[str, ...] = ()     # a text argument's valid values; () for a number
  aliases: tuple[str, ...] = ()     # other names of the argument (Keras': gain, ...)

  def convert(self, owner: str, text: str) -> Any:
    value = text.strip().strip("'\"")
    if self.choices:
      if value not in self.choices:
        raise ConfigError(f"bad {self.name} {value!r} for initializer {owner!r}; valid "
                          f"choices: {', '.join(self.choices)}")
      return value
    try:
      number = float(value)
    except ValueError:
      raise ConfigError(f"bad {self.name} {value!r} for initializer {owner!r}; valid: a "
                        "number") from None
    if not math.isfinite(number):
      raise ConfigError(f"bad {self.name} {value!r} for initializer {owner!r}; valid: a "
                        "finite number")
    return number


@dataclasses.dataclass(frozen=True)
class _Named:
  make: Callable[..., Initializer]
  params: tuple[_Param, ...]
  doc: str


_SCALE = _Param("scale", 1.0, aliases=("gain",))


def _vs_family(scale, mode, distribution, doc):
  return _Named(lambda scale: variance_scaling(scale, mode, distribution),
                (_Param("scale", scale),), doc)


_NAMED: dict[str, _Named] = {
    "variance_scaling": _Named(
        variance_scaling,
        (_Param("scale", 1.0), _Param("mode", "fan_in", MODES),
         _Param("distribution", "truncated_normal", DISTRIBUTIONS + ("normal",))),
        "Keras' VarianceScaling: variance scale / fan"),
    "glorot_uniform": _vs_family(1.0, "fan_avg", "uniform",
                                 "U(±sqrt(6 scale / (fan_in + fan_out)))"),
    "glorot_normal": _vs_family(1.0, "fan_avg", "truncated_normal",
                                "truncated normal, std sqrt(2 scale / (fan_in + fan_out))"),
    "he_uniform": _vs_family(2.0, "fan_in", "uniform", "U(±sqrt(3 scale / fan_in))"),
    "he_normal": _vs_family(2.0, "fan_in", "truncated_normal",
                            "truncated normal, std sqrt(scale / fan_in)"),
    "lecun_uniform": _vs_family(1.0, "fan_in", "uniform", "U(±sqrt(3 scale / fan_in))"),
    "lecun_normal": _vs_family(1.0, "fan_in", "truncated_normal",
                               "truncated normal, std sqrt(scale / fan_in)"),
    "orthogonal": _Named(orthogonal, (_SCALE,),
                         "scale x an orthogonal matrix over the whole last axis"),
    "orthogonal_per_gate": _Named(lambda scale: per_gate(orthogonal(scale)), (_SCALE,),
                                  "scale x an orthogonal (H, H) block per gate"),
    "identity_per_gate": _Named(lambda scale: per_gate(scaled_identity(scale)), (_SCALE,),
                                "scale x the identity in each gate block"),
    "zeros": _Named(lambda: _INIT.zeros, (), "0"),
    "ones": _Named(lambda: _INIT.ones, (), "1"),
    "constant": _Named(_INIT.constant, (_Param("value", 0.0),), "the value everywhere"),
    "normal": _Named(_INIT.normal, (_Param("stddev", 0.01, aliases=("std",)),),
                     "N(0, stddev^2)"),
    "truncated_normal": _Named(_INIT.truncated_normal,
                               (_Param("stddev", 0.01, aliases=("std",)),),
                               "N(0, stddev^2) truncated to ±2 stddev (JAX's)"),
    "uniform": _Named(symmetric_uniform, (_Param("limit", 0.05),), "U(-limit, limit)"),
    "random_normal": _Named(
        lambda mean, stddev: lambda key, shape, dtype=jax.numpy.float32: (
            mean + stddev * jax.random.normal(key, shape, dtype)),
        (_Param("mean", 0.0), _Param("stddev", 0.05)), "Keras' RandomNormal: N(mean, stddev^2)"),
    "random_uniform": _Named(
        lambda minval, maxval: lambda key, shape, dtype=jax.numpy.float32: (
            jax.random.uniform(key, shape, dtype, minval, maxval)),
        (_Param("minval", -0.05), _Param("maxval", 0.05)),
        "Keras' RandomUniform: U(minval, maxval)"),
    "hidden_uniform": _Named(hidden_uniform, (), "U(±1/sqrt(H)), H from the last axis 4H"),
    "pytorch_bias": _Named(lambda: summed_hidden_uniform(2), (),
                           "PyTorch's b_ih + b_hh: two U(±1/sqrt(H)) summed"),
    "chrono": _Named(chrono_bias, (_Param("t_max", 100.0),),
                     "Tallec & Ollivier's bias: b_f ~ log U[1, t_max - 1], b_i = -b_f"),
}
_ALIASES = {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
            "kaiming_uniform": "he_uniform", "kaiming_normal": "he_normal",
            "identity": "identity_per_gate", "scaled_identity": "identity_per_gate"}
_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", re.S)


def _snake(name: str) -> str:
  """Keras' class name as the registry's name: `VarianceScaling` -> `variance_scaling`."""
  if name.islower() or not any(c.isupper() for c in name):
    return name
  return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _resolve(name: str) -> str | None:
  name = _snake(name)
  name = _ALIASES.get(name, name)
  return name if name in _NAMED else None


def parse_spec(spec: str) -> tuple[str, list[str], dict[str, str]]:
  """Splits a spec into its name, positional and keyword arguments (as text).

  Args:
    spec: `name`, `name(a, k=v)` or `name:a:k=v`.

  Returns:
    (name as given, [positional texts], {keyword: text}).

  Raises:
    ConfigError: for a spec that is neither form, or an empty argument.
  """
  text = str(spec).strip()
  if "(" in text or ")" in text:
    match = _SPEC.match(text)
    if not match:
      raise ConfigError(f"malformed initializer {spec!r}; expected name(arg, key=value) or "
                        "name:arg:key=value, e.g. variance_scaling(scale=2,mode=fan_out)")
    name, inner = match.group(1), match.group(2) or ""
    parts = inner.split(",") if inner.strip() else []
  else:
    name, *parts = text.split(":")
    if parts == [""]:  # "name:" as "name"
      parts = []
  args, kwargs = [], {}
  for part in parts:
    if not part.strip():
      raise ConfigError(f"malformed initializer {spec!r}: an empty argument")
    key, eq, value = part.partition("=")
    if eq:
      kwargs[key.strip()] = value
    elif kwargs:
      raise ConfigError(f"malformed initializer {spec!r}: argument {part.strip()!r} without a "
                        "name after a named one")
    else:
      args.append(part)
  return name.strip(), args, kwargs


def _bind(name: str, named: _Named, args: list[str], kwargs: dict[str, str],
          spec: str) -> dict[str, Any]:
  if len(args) > len(named.params):
    raise ConfigError(f"initializer {spec!r} takes at most {len(named.params)} argument(s): "
                      f"{name}{_signature(named)}")
  values = {p.name: p.convert(name, a) for p, a in zip(named.params, args)}
  by_name = {alias: p for p in named.params for alias in (p.name, *p.aliases)}
  for key, text in kwargs.items():
    if key not in by_name:
      raise ConfigError(f"unknown argument {key!r} of initializer {name!r}; valid: "
                        f"{', '.join(p.name for p in named.params) or 'none'}")
    param = by_name[key]
    if param.name in values:
      raise ConfigError(f"initializer {spec!r} gives {param.name} twice")
    values[param.name] = param.convert(name, text)
  return {p.name: values.get(p.name, p.default) for p in named.params}


def _signature(named: _Named) -> str:
  return "(" + ", ".join(f"{p.name}={p.default!r}" for p in named.params) + ")"


def _lookup(spec: str) -> tuple[str, _Named, dict[str, Any]]:
  given, args, kwargs = parse_spec(spec)
  name = _resolve(given)
  if name is None:
    raise unknown("initializer", spec, initializer_names())
  named = _NAMED[name]
  return name, named, _bind(name, named, args, kwargs, str(spec))


def initializer_names() -> dict[str, str]:
  """Every name `get_initializer` accepts, with its arguments and their defaults.

  Returns:
    {name: "(argument=default, ...)"}, sorted by name, aliases included
    (Keras' class names, e.g. `VarianceScaling`, are accepted as well).
  """
  names = {n: _signature(v) for n, v in _NAMED.items()}
  names.update({a: _signature(_NAMED[n]) for a, n in _ALIASES.items()})
  return dict(sorted(names.items()))


def describe_initializers() -> list[tuple[str, str, str]]:
  """One line per initializer, for the docs: (name, signature, what it draws).

  Returns:
    [(name, "name(argument=default, ...)", description)], registry names
    first (sorted), then the aliases as "= <name>".
  """
  out = [(n, n + _signature(v), v.doc) for n, v in sorted(_NAMED.items())]
  out += [(a, a + _signature(_NAMED[n]), f"= {n}") for a, n in sorted(_ALIASES.items())]
  return out


def canonical_spec(spec: str) -> str:
  """The one spelling of an initializer spec: its name and every argument.

  Two specs that draw the same initializer have the same canonical spelling
  (`variance_scaling:2` and `VarianceScaling(scale=2.0)` both give
  `variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal')`).

  Args:
    spec: an initializer spec.

  Returns:
    The canonical text.

  Raises:
    ConfigError: as `get_initializer`.
  """
  name, _, values = _lookup(spec)
  return name + "(" + ", ".join(f"{k}={v!r}" for k, v in values.items()) + ")"


def get_initializer(spec: str | Initializer) -> Initializer:
  """Resolves an initializer spec.

  Args:
    spec: a callable `(key, shape, dtype) -> array`, returned unchanged, or a
      name from `initializer_names()` with its arguments:
      `variance_scaling(scale=2, mode=fan_out, distribution=uniform)`,
      `variance_scaling:2:fan_out:uniform`, `orthogonal:1.1`, `chrono(t_max=200)`.

  Returns:
    The initializer.

  Raises:
    ConfigError: for an unknown name or argument, or a bad argument value.
  """
  if callable(spec):
    return spec
  _, named, values = _lookup(spec)
  return named.make(**values)
