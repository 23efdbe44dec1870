"""Which runs share random streams: seed-by-seed pairing and clusters, from the records.

  layout = condition_layout(record, "preset=keras", rows)   # config.json, results.csv rows
  paired, reason, order = pairing(layout_a, layout_b)

A run's streams (init, data, dropout, noise) are keyed by the sweep's root
seed and, per stream, a seed index (`lstm_init.core.keys`): in the "seeds"
design every stream of run i follows seed i; in the "crossed" design `init`
follows the init seed and the others the data seed; in the "instability"
design every stream follows the base seed, and the perturbation index picks
the flipped bit. A stream in `fixed_streams` takes seed 0's key for every
run. Two runs whose keys are all equal saw the same random numbers, so two
conditions whose runs match one to one are paired (common random numbers).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from lstm_init.core.keys import STREAMS

DESIGNS = ("seeds", "crossed", "instability")
SEED_COLUMNS = ("seed", "init_seed", "data_seed")


@dataclasses.dataclass(frozen=True)
class RunLayout:
  """How one condition's runs draw their random streams."""

  design: str                        # "seeds", "crossed" or "instability"
  seed: int                          # the root seed
  fixed: tuple[str, ...]             # streams held fixed across runs (sorted)
  identity: list[tuple]              # [runs] the key of every stream of each run
  factors: list[np.ndarray]          # the units an interval resamples (see `factors`)

  @property
  def unique(self) -> bool:
    """Whether no two runs share all their streams."""
    return len(set(self.identity)) == len(self.identity)


def condition_value(record: dict[str, Any], name: str, path: str, default: Any) -> Any:
  """A field's value for one condition of a config.json record.

  Args:
    record: config.json (its "config", with swept fields as lists, and its
      "conditions", each with its "overrides").
    name: the condition.
    path: a dotted field name.
    default: the value when the record lacks the field (older workdirs).
  Returns:
    The condition's override, else the shared value, else `default`.
  """
  for c in record.get("conditions", []):
    if c.get("name") == name and path in c.get("overrides", {}):
      return c["overrides"][path]
  node: Any = record.get("config", {})
  for part in path.split("."):
    if not isinstance(node, dict) or part not in node:
      return default
    node = node[part]
  return default if isinstance(node, list) else node


def stream_indices(design: str, fixed: Sequence[str], row: dict[str, Any]) -> tuple:
  """The seed index each stream of one run takes its key from ("fixed": seed 0's).

  Args:
    design: the condition's design; fixed: its fixed streams.
    row: the run's results.csv row (`seed`, `init_seed`, `data_seed`[, `perturbation`]).
  Returns:
    One entry per stream of `STREAMS` (the instability design adds the perturbation).
  """
  if design == "crossed":
    index = {s: row["init_seed"] if s == "init" else row["data_seed"] for s in STREAMS}
  elif design == "instability":
    index = {s: row["init_seed"] for s in STREAMS}
  else:
    index = {s: row["seed"] for s in STREAMS}
  out = tuple(0 if s in fixed else int(index[s]) for s in STREAMS)
  return out + ((int(row.get("perturbation", 0)),) if design == "instability" else ())


def factors(design: str, rows: Sequence[dict[str, Any]]) -> list[np.ndarray]:
  """What an interval resamples: seeds; base seeds (clusters of one-bit neighbours);
  or init seeds and data seeds independently (a crossed grid).

  Args:
    design: the condition's design.
    rows: its results.csv rows.
  Returns:
    One or two [runs] label arrays.
  """
  col = lambda k: np.array([int(r[k]) for r in rows], np.int64)
  if design == "crossed":
    return [col("init_seed"), col("data_seed")]
  if design == "instability":
    return [col("init_seed")]
  return [col("seed")]


def condition_layout(record: dict[str, Any], name: str,
                     rows: Sequence[dict[str, Any]]) -> RunLayout:
  """One condition's layout, from config.json and its results.csv rows.

  Args:
    record: the workdir's config.json.
    name: the condition.
    rows: its rows of results.csv, in order.
  Returns:
    Its `RunLayout`.
  """
  design = str(condition_value(record, name, "design", "seeds"))
  design = design if design in DESIGNS else "seeds"
  spec = condition_value(record, name, "fixed_streams", "")
  parts = spec.split(",") if isinstance(spec, str) else list(spec)
  fixed = tuple(sorted(p.strip() for p in parts if p.strip()))
  seed = int(condition_value(record, name, "seed", 0))
  identity = [(seed,) + stream_indices(design, fixed, r) for r in rows]
  return RunLayout(design, seed, fixed, identity, factors(design, rows))


def pairing(a: RunLayout | None, b: RunLayout | None) -> tuple[bool, str, np.ndarray | None]:
  """Whether two conditions' runs pair one to one on the same random streams.

  Args:
    a, b: the two conditions' layouts (None: not recorded).
  Returns:
    (paired, why not, order): `order[i]` is the run of b that shares run i of
    a's streams (None when unpaired); "why not" is "" when paired.
  """
  if a is None or b is None:
    return False, "streams not recorded", None
  if a.seed != b.seed:
    return False, f"different root seeds ({a.seed} vs {b.seed})", None
  if a.design != b.design:
    return False, f"different designs ({a.design} vs {b.design})", None
  if a.fixed != b.fixed:
    show = lambda f: ",".join(f) or "none"
    return False, f"different fixed streams ({show(a.fixed)} vs {show(b.fixed)})", None
  if not (a.unique and b.unique):
    return False, "runs of a condition share every stream", None
  if set(a.identity) != set(b.identity):
    return False, "different seed sets", None
  where = {k: i for i, k in enumerate(b.identity)}
  return True, "", np.array([where[k] for k in a.identity], np.int64)


def independent_runs(layout: RunLayout | None, n: int) -> int:
  """How many of a condition's runs are independent draws: the best of k seeds is
  observed up to this k.

  Args:
    layout: the condition's layout (None: independent seeds).
    n: its runs.
  Returns:
    n for independent seeds; the base seeds of an instability condition; min(I, J)
    for an I x J crossed grid (runs with distinct init and data seeds).
  """
  if layout is None or layout.design == "seeds":
    return n
  sizes = [int(np.unique(f).size) for f in layout.factors]
  return min(n, min(sizes))
