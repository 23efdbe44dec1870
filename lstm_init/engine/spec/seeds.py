"""The seeds of a sweep's runs: each condition's seed layout and its runs' keys.

  seeds = SeedSpec.of(config)                       # read once from the config
  layout = seed_layout(seeds)                       # per-run seed indices
  keys = condition_keys(seeds, layout, rows)        # {stream: [n] keys}

A design (`config.design`) decides which seed each run's key streams come
from: "seeds" (one seed per run), "crossed" (a grid of initialization and
data seeds) or "instability" (base seeds and one-bit perturbations of their
initial parameters). Nothing here trains or writes.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from lstm_init.core import keys as keys_lib
from lstm_init.engine.spec.schema import DESIGNS
from lstm_init.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SeedSpec:
  """What decides a condition's runs and their keys, read once from its config."""

  seed: int                # the experiment seed: the root key
  design: str              # one of DESIGNS
  fixed_streams: str       # streams held fixed across seeds ("data", "init,data", ...)
  num_seeds: int
  num_init_seeds: int
  num_data_seeds: int
  init_seed_offset: int
  data_seed_offset: int
  num_base_seeds: int
  base_seed_offset: int

  @classmethod
  def of(cls, config) -> "SeedSpec":
    """The spec of a condition's config (its top-level seed fields)."""
    return cls(int(config.seed), str(config.design), str(config.fixed_streams),
               *(int(config[f]) for f in ("num_seeds", "num_init_seeds", "num_data_seeds",
                                          "init_seed_offset", "data_seed_offset",
                                          "num_base_seeds", "base_seed_offset")))


# Runs one condition may hold: each keeps records in host memory (every step's
# loss, each validation, a results row of about 2 KiB), so 2**24 runs need 32 GiB
# or more; `execute.memory.check_record_size` then checks the machine's memory.
MAX_RUNS = 2 ** 24
# Seed indices go into the keys as JAX's default integers (int32).
MAX_SEED_INDEX = 2 ** 31 - 1


def check_counts(seeds: SeedSpec) -> None:
  """Refuses seed counts below their minimum, a condition of more than
  `MAX_RUNS` runs, or seed indices past `MAX_SEED_INDEX`, before any array
  of that size is made.

  Args:
    seeds: one condition's `SeedSpec`.

  Raises:
    ConfigError: naming the fields, their values and the valid range.
  """
  if seeds.design == "crossed":
    n_i, n_j = int(seeds.num_init_seeds), int(seeds.num_data_seeds)
    if n_i < 1 or n_j < 1:
      raise ConfigError(f"num_init_seeds and num_data_seeds must be >= 1, got {n_i}, {n_j}")
    fields = f"num_init_seeds={n_i} x num_data_seeds={n_j}"
    runs = n_i * n_j
    last = {"init_seed_offset + num_init_seeds - 1": int(seeds.init_seed_offset) + n_i - 1,
            "data_seed_offset + num_data_seeds - 1": int(seeds.data_seed_offset) + n_j - 1}
  elif seeds.design == "instability":
    n, n_b, offset = int(seeds.num_seeds), int(seeds.num_base_seeds), int(seeds.base_seed_offset)
    if n_b < 1 or n < 2 or offset < 0:
      raise ConfigError(f"design=instability needs num_base_seeds >= 1, num_seeds >= 2 (run 0 "
                        f"is the base, runs 1.. its one-bit perturbations) and "
                        f"base_seed_offset >= 0, got {n_b}, {n}, {offset}")
    fields, runs = f"num_base_seeds={n_b} x num_seeds={n}", n_b * n
    last = {"base_seed_offset + num_base_seeds - 1": offset + n_b - 1}
  else:
    n = int(seeds.num_seeds)
    if n < 1:
      raise ConfigError(f"num_seeds must be >= 1, got {n}")
    fields, runs, last = f"num_seeds={n}", n, {}
  if runs > MAX_RUNS:
    raise ConfigError(f"{fields} asks for {runs:,} runs of one condition; valid: at most "
                      f"{MAX_RUNS:,} (2**24) runs per condition, as each run keeps its records "
                      "in host memory")
  for name, index in last.items():
    if index > MAX_SEED_INDEX:
      raise ConfigError(f"{name} = {index:,}: seed indices go into the keys as int32; valid: "
                        f"at most {MAX_SEED_INDEX:,}")


def seed_layout(seeds: SeedSpec) -> dict[str, np.ndarray]:
  """Per-run seed indices of one condition: {"seed", "init_seed", "data_seed"}.

  With `design="seeds"` run i uses seed i for every stream. With
  `design="crossed"` run i * M + j uses init seed `init_seed_offset + i` for
  the `init` stream and data seed `data_seed_offset + j` for `data`,
  `dropout` and `noise`: an N x M grid of initializations and data orders. In
  both designs a stream's key depends only on its own seed index, so init seed
  i here is the same initialization as seed i of a plain sweep.

  With `design="instability"` run b * P + j (P = `num_seeds`) takes every
  stream from base seed `base_seed_offset + b` (b < `num_base_seeds`), and
  perturbation j > 0 flips one bit of one initial parameter
  (`lstm_init.core.perturb`); j = 0 is the base run itself. The layout then has a
  "perturbation" entry.

  Args:
    seeds: one condition's `SeedSpec` (its design, seed counts and offsets).

  Returns:
    {"seed", "init_seed", "data_seed"[, "perturbation"]}, each a [runs] int
    array, runs = num_seeds ("seeds"), num_init_seeds * num_data_seeds
    ("crossed") or num_base_seeds * num_seeds ("instability").

  Raises:
    ConfigError: for an unknown design or seed counts out of range (`check_counts`).
  """
  if seeds.design not in DESIGNS:
    raise ConfigError(f"unknown design {seeds.design!r}; valid choices: {', '.join(DESIGNS)}")
  check_counts(seeds)
  if seeds.design == "crossed":
    n_i, n_j = int(seeds.num_init_seeds), int(seeds.num_data_seeds)
    seed = np.arange(n_i * n_j)
    return {"seed": seed, "init_seed": int(seeds.init_seed_offset) + seed // n_j,
            "data_seed": int(seeds.data_seed_offset) + seed % n_j}
  n = int(seeds.num_seeds)
  if seeds.design == "instability":
    n_b, offset = int(seeds.num_base_seeds), int(seeds.base_seed_offset)
    seed = np.arange(n_b * n)
    base = offset + seed // n
    return {"seed": seed, "init_seed": base, "data_seed": base, "perturbation": seed % n}
  seed = np.arange(n)
  return {"seed": seed, "init_seed": seed, "data_seed": seed}


def condition_keys(seeds: SeedSpec, layout: dict[str, np.ndarray], rows: np.ndarray):
  """Stream keys of the runs `rows` of a condition's seed layout.

  Args:
    seeds: the condition's `SeedSpec` (`seed`, `design`, `fixed_streams`).
    layout: its `seed_layout`, each entry a [runs] int array.
    rows: [n] int indices of the runs wanted.

  Returns:
    {stream: [n] typed keys}, one entry per stream of `keys.STREAMS`
    (`keys.run_keys`).
  """
  root = keys_lib.root_key(seeds.seed)
  fixed = keys_lib.parse_streams(seeds.fixed_streams)
  stream_index = None
  if seeds.design == "instability":  # every stream from the base seed
    stream_index = {name: layout["init_seed"][rows] for name in keys_lib.STREAMS}
  if seeds.design == "crossed":
    # init follows the init seed; data order, dropout and noise the data seed.
    stream_index = {"init": layout["init_seed"][rows], "data": layout["data_seed"][rows],
                    "dropout": layout["data_seed"][rows], "noise": layout["data_seed"][rows]}
  return keys_lib.run_keys(root, layout["seed"][rows], fixed, stream_index=stream_index)


def perturbation_keys(seeds: SeedSpec, layout: dict[str, np.ndarray], rows: np.ndarray):
  """(keys, enabled) of the runs `rows` of an instability layout: the key that picks
  each run's flipped element and whether it flips one (perturbation > 0).

  Args:
    seeds: the condition's `SeedSpec` (`seed`).
    layout: its `seed_layout` (design "instability": with "perturbation").
    rows: [n] int indices of the runs wanted.

  Returns:
    ([n] typed keys, [n] bool: the run flips one bit).
  """
  root = keys_lib.root_key(seeds.seed)
  base, j = layout["init_seed"][rows], layout["perturbation"][rows]
  keys = jax.vmap(lambda b, p: keys_lib.perturb_key(root, b, p))(base, j)
  return keys, j > 0
