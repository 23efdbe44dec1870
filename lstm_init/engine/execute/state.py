"""Where a sweep stands, on the host: plain mutable dataclasses, updated in place.

`SweepState` is the whole position of a sweep (which chunks are done, their
outputs, the chunk in training); `ChunkRecords` is what the loop has recorded
of the chunk in training. Both are host state, changed in place by the loop,
and saved into checkpoints through Flax serialization (registered below), so
a checkpoint holds exactly these fields.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import serialization

from lstm_init.engine.execute.runs import group_runs
from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.engine.spec.schedule import Schedule

# Per condition, [seeds, ...] arrays: `persist.outputs` turns them into rows and curves.
OUTPUTS = ("train_steps", "train_curve", "eval_loss", "eval_metric", "diverged_step",
           "final_eval_loss", "final_eval_metric", "per_position", "test_loss", "test_metric",
           "diverged")


@dataclasses.dataclass
class ChunkRecords:
  """Host records of the chunk in training (runs on the first axis)."""

  train_steps: np.ndarray    # [runs, steps] float32: every step's loss, NaN once diverged
  train_curve: np.ndarray    # [runs, evals]: mean train loss since the previous validation
  eval_loss: np.ndarray      # [runs, evals]
  eval_metric: np.ndarray    # [runs, evals]
  diverged_step: np.ndarray  # [runs]: first step with a NaN loss, -1 if none
  next_piece: np.ndarray     # [] pieces trained (the validation at step 0 comes before them)

  @classmethod
  def fresh(cls, n: int, schedule: Schedule) -> "ChunkRecords":
    """Empty records of `n` runs following `schedule`."""
    e = len(schedule.evals)
    nan = lambda *shape: np.full(shape, np.nan)
    return cls(np.full((n, schedule.total), np.nan, np.float32), nan(n, e), nan(n, e),
               nan(n, e), np.full((n,), -1), np.array(0))

  @classmethod
  def empty(cls) -> "ChunkRecords":
    """No chunk in training."""
    z = lambda: np.zeros((0,))
    return cls(z(), z(), z(), z(), z(), np.array(0))

  def record_start(self, ev: dict[str, np.ndarray]) -> None:
    """The validation at initialization (step 0): `ev["loss"]`, `ev["metric"]` [runs]."""
    self.eval_loss[:, 0], self.eval_metric[:, 0] = ev["loss"], ev["metric"]

  def record_piece(self, schedule: Schedule, p: int, out: dict[str, np.ndarray]) -> int:
    """Stores piece p's outputs (`train_loss` [runs, steps], `eval_loss` and
    `eval_metric` [runs, evals]); returns the index of its last validation."""
    piece = schedule.pieces[p]
    losses = out["train_loss"]
    nan = np.isnan(losses)
    first_nan = np.where(nan.any(axis=1), np.argmax(nan, axis=1), -1)
    newly = (self.diverged_step < 0) & (first_nan >= 0)
    self.diverged_step[newly] = piece.start + first_nan[newly] + 1
    self.train_steps[:, piece.start:piece.end] = losses
    evals = range(piece.first_eval, piece.first_eval + out["eval_loss"].shape[1])
    self.eval_loss[:, evals.start:evals.stop] = out["eval_loss"]
    self.eval_metric[:, evals.start:evals.stop] = out["eval_metric"]
    # The train curve at a validation: the mean loss of the steps since the
    # last one, over the steps before a run diverged.
    for e in evals:
      seg = self.train_steps[:, schedule.evals[e - 1]:schedule.evals[e]]
      finite = np.isfinite(seg)
      mean = np.where(finite, seg, 0).sum(1) / np.maximum(finite.sum(1), 1)
      self.train_curve[:, e] = np.where(finite.any(axis=1), mean, np.nan)
    self.next_piece = np.array(p + 1)
    return evals.stop - 1

  def outputs(self, final: dict[str, dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    """The chunk's `OUTPUTS` for its first n runs (the rest are padding copies).

    Args:
      final: the final evaluation, {"val": scores, "test": scores} of [runs] arrays.
      n: the chunk's real runs.
    """
    ev, test = final["val"], final["test"]
    out = {name: getattr(self, name)[:n] for name in
           ("train_steps", "train_curve", "eval_loss", "eval_metric", "diverged_step")}
    out.update(final_eval_loss=ev["loss"][:n], final_eval_metric=ev["metric"][:n],
               per_position=ev.get("per_position", np.zeros((len(ev["loss"]), 0)))[:n],
               test_loss=test["loss"][:n], test_metric=test["metric"][:n],
               diverged=self.diverged_step[:n] >= 0)
    return out


@dataclasses.dataclass
class SweepState:
  """Where a sweep stands. Groups, and chunks within a group, finish in order."""

  bounds: dict[str, np.ndarray]   # per group: chunk boundaries in its run list (empty: unplanned)
  done: np.ndarray                # [groups]: chunks finished
  outputs: dict[str, dict[str, np.ndarray]]  # per condition: OUTPUTS over its seeds
  current: ChunkRecords           # the chunk in training, valid when `in_chunk`
  in_chunk: np.ndarray            # [] whether the checkpoint holds that chunk's run states
  seed_groups: np.ndarray         # [groups]: each group's seed group size (-1: not chosen yet)

  @classmethod
  def fresh(cls, plan: SweepPlan) -> "SweepState":
    """Nothing done yet."""
    empty = lambda: np.zeros((0,))
    return cls({str(g): np.zeros((0,), int) for g in range(len(plan.groups))},
               np.zeros(len(plan.groups), int),
               {str(ci): {name: empty() for name in OUTPUTS}
                for ci in range(len(plan.conditions))},
               ChunkRecords.empty(), np.array(False), np.full(len(plan.groups), -1))

  def num_chunks(self, g: int) -> int:
    """How many chunks group g is cut into (0 before it is planned)."""
    return max(0, self.bounds[str(g)].size - 1)

  def chunk(self, plan: SweepPlan, g: int, k: int) -> list[tuple[int, int]]:
    """Chunk k of group g as (condition, seed row) pairs."""
    b = self.bounds[str(g)]
    return group_runs(plan, g)[int(b[k]):int(b[k + 1])]

  def store(self, plan: SweepPlan, chunk, out: dict[str, np.ndarray]) -> None:
    """Files a finished chunk's per-run outputs ([runs, ...]) under each condition's seeds."""
    for ci in dict.fromkeys(c for c, _ in chunk):
      sel = np.array([i for i, (c, _) in enumerate(chunk) if c == ci])
      rows = np.array([r for c, r in chunk if c == ci])
      dest = self.outputs[str(ci)]
      for name, arr in out.items():
        arr = np.asarray(arr)
        if dest[name].shape[:1] != (len(plan.layouts[ci]["seed"]),):
          dest[name] = np.full((len(plan.layouts[ci]["seed"]),) + arr.shape[1:], np.nan)
        dest[name][rows] = arr[sel]


def _to_state_dict(obj) -> dict:
  return {f.name: serialization.to_state_dict(getattr(obj, f.name))
          for f in dataclasses.fields(obj)}


def _from_state_dict(target, state: dict):
  out = {}
  for f in dataclasses.fields(target):
    value = serialization.from_state_dict(getattr(target, f.name), state[f.name])
    # Restored arrays are copied (the loop writes into them in place); a nested
    # record (`current`) copied its own.
    out[f.name] = value if dataclasses.is_dataclass(value) else jax.tree.map(np.array, value)
  return type(target)(**out)


for _cls in (ChunkRecords, SweepState):
  serialization.register_serialization_state(_cls, _to_state_dict, _from_state_dict)
