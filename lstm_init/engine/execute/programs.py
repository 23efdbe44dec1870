"""The compiled programs of a sweep: one set per condition group.

A condition group's runs are stacked on one axis and sharded over devices;
each device runs its shard one seed group (`seed_group` runs) at a time,
every seed group through the same single-device executable
(`placement.SeedGroupProgram`). The host loop (`execute.loop`) calls two
kinds of program:

  piece(state, data, segments)   training steps with the learning-curve
                                 validations between them, no host sync
  evaluate(state, data, split)   "curve" (at step 0) or "final" (val and test)

Each distinct program is traced and compiled once, and its own compiled
memory analysis gives the memory a run needs (`run_bytes`).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lstm_init.engine.execute import placement
from lstm_init.engine.execute.seed_group import pad
from lstm_init.engine.spec.plan import SweepPlan
from lstm_init.engine.spec.seeds import condition_keys, perturbation_keys
from lstm_init.training.experiment import Experiment, stacked_values


def run_piece(exp: Experiment, state, data, segments: tuple[tuple[int, int], ...]):
  """One run's training with validation between segments, in one program.

  `segments` is `((length, count), ...)`: `count` times, `length` steps of
  `exp.train_chunk` then `exp.evaluate(..., "curve")`.

  Args:
    exp: the run's experiment.
    state: one run's state.
    data: the experiment's data.
    segments: as above.

  Returns:
    (state, {"train_loss": [steps] every step's loss (NaN once diverged),
    "eval_loss", "eval_metric": [evaluations]}).
  """
  out = {"train_loss": [], "eval_loss": [], "eval_metric": []}
  for length, count in segments:
    def segment(s, _, length=length):
      s, per_step = exp.train_chunk(s, data, length)
      ev = exp.evaluate(s, data, "curve")
      return s, (per_step["loss"], ev["loss"], ev["metric"])

    state, (losses, loss, metric) = jax.lax.scan(segment, state, None, length=count)
    out["train_loss"].append(losses.reshape(-1))
    out["eval_loss"].append(loss)
    out["eval_metric"].append(metric)
  return state, {k: jnp.concatenate(v) for k, v in out.items()}


def final_scores(exp: Experiment, state, data) -> dict[str, Any]:
  """The final validation and test scores in one program.

  Args:
    exp: the run's experiment.
    state: one run's state.
    data: the experiment's data.

  Returns:
    {"val": scores, "test": scores}, each `exp.evaluate`'s dict.
  """
  return {split: exp.evaluate(state, data, split) for split in ("val", "test")}


_STACKED: "weakref.WeakKeyDictionary[Experiment, dict[str, Any]]" = weakref.WeakKeyDictionary()


def stacked(exp: Experiment, name: str):
  """`exp.<name>` ("init", or "perturb" for the instability design) jitted and
  vmapped over runs, one per experiment while it lives (compiled once per shape,
  whichever programs use it).

  Args:
    exp: the experiment.
    name: "init" or "perturb".

  Returns:
    The jitted function; its arguments and outputs have a leading [runs] axis.
  """
  own = _STACKED.setdefault(exp, {})
  if name not in own:
    own[name] = jax.jit(jax.vmap(getattr(exp, name)))
  return own[name]


def _concat(trees):
  return trees[0] if len(trees) == 1 else jax.tree.map(
      lambda *a: jnp.concatenate(a, axis=0), *trees)


# Set to 1 (tests) to assert that each program of a group is traced once.
MAX_TRACES: int | None = None


def _traced_at_most(fn, n: int, label: str):
  """`fn`, raising AssertionError when traced more than `n` times. It keeps `fn`'s
  name, so its program (and compilation-cache entry) is the one built without the check."""
  traces = 0

  def counted(*args):
    nonlocal traces
    traces += 1
    if traces > n:
      raise AssertionError(f"{label} traced {traces} times (at most {n})")
    return fn(*args)
  counted.__name__ = counted.__qualname__ = fn.__name__
  return counted


class ConditionGroupPrograms:
  """The jitted, vmapped programs of one condition group, compiled once, reused by
  its chunks; `seed_group` runs per call."""

  def __init__(self, plan: SweepPlan, group: list[int], mesh=None, seed_group: int = 1):
    self.plan = plan
    self.exp = plan.experiments[group[0]]
    self.init = {ci: stacked(plan.experiments[ci], "init") for ci in group}
    self.mesh = mesh if mesh is not None else placement.run_mesh(1)
    self.seed_group = seed_group
    self._jitted: dict[Any, Any] = {}
    self._compiled: dict[Any, Any] = {}
    self.compile_s = 0.0  # seconds spent tracing and compiling (or reading the cache)

  def _jit(self, key):
    if key not in self._jitted:
      name, static = key
      if name == "piece":
        fn = lambda state, data: run_piece(self.exp, state, data, static)
      elif name == "train":  # training steps alone (timing seed groups)
        fn = lambda state, data: self.exp.train_chunk(state, data, static)
      elif static == "final":
        fn = lambda state, data: final_scores(self.exp, state, data)
      else:
        fn = lambda state, data: self.exp.evaluate(state, data, static)
      if MAX_TRACES is not None:
        fn = _traced_at_most(fn, MAX_TRACES, f"program {key}")
      # A piece replaces the state it is given: its buffers are donated.
      self._jitted[key] = placement.SeedGroupProgram(jax.vmap(fn, in_axes=(0, None)), self.mesh,
                                                   donate=name == "piece")
    return self._jitted[key]

  def compiled(self, key, group, data):
    """The compiled program for one group with `group`'s shapes (compiling it
    for every device if needed).

    Args:
      key: (kind, static): ("piece", segments), ("train", steps) or
        ("evaluate", split or "final").
      group: one group's run states ([seed_group, ...] leaves, or their shapes).
      data: the experiment's data.

    Returns:
      The compiled program of `placement.SeedGroupProgram.compile`.
    """
    leaves, treedef = jax.tree.flatten(group)
    shapes = (key, treedef, tuple((a.shape, str(a.dtype)) for a in leaves))
    if shapes not in self._compiled:
      start = time.perf_counter()
      self._compiled[shapes] = self._jit(key).compile(group, data)
      self.compile_s += time.perf_counter() - start
    return self._compiled[shapes]

  def run(self, key, groups: placement.SeedGroups, data) -> placement.SeedGroups:
    """Program `key` on every group; the outputs, group by group.

    Args:
      key: as in `compiled`.
      groups: every device's groups of run states.
      data: the experiment's data.

    Returns:
      The outputs, as `SeedGroups` on the devices.
    """
    return self.compiled(key, groups.first, data)(groups, data)

  def piece(self, groups: placement.SeedGroups, data, segments):
    """One piece of training: (the groups' new states, every run's outputs on the host).

    Args:
      groups: every device's groups of run states (donated).
      data: the experiment's data.
      segments: the piece's `((length, count), ...)`.

    Returns:
      (new states as `SeedGroups`, `run_piece`'s outputs, [runs, ...] host
      arrays).
    """
    out = self.run(("piece", segments), groups, data)
    return out.map(lambda t: t[0]), out.map(lambda t: t[1]).fetch()

  def evaluate(self, groups: placement.SeedGroups, data, split: str):
    """Scores of every run, on the host.

    Args:
      groups: every device's groups of run states.
      data: the experiment's data.
      split: "curve", or "final" (`final_scores`).

    Returns:
      The scores, [runs] host arrays.
    """
    return self.run(("evaluate", split), groups, data).fetch()

  def _stream_keys(self, runs) -> dict[int, tuple[dict, dict]]:
    """Per condition of `runs`: each stream's key data by seed row, and its impl.

    Stream keys are integer arithmetic of each run's own indices (the same bits
    in any batch): derived once per condition of a chunk, then cut into groups."""
    out = {}
    for ci in dict.fromkeys(c for c, _ in runs):
      rows = np.array(sorted({r for c, r in runs if c == ci}))
      keys = condition_keys(self.plan.conditions[ci].seeds, self.plan.layouts[ci], rows)
      out[ci] = ({k: dict(zip(rows.tolist(), np.asarray(jax.random.key_data(v))))
                  for k, v in keys.items()}, {k: jax.random.key_impl(v) for k, v in keys.items()})
    return out

  def _group_state(self, batch, streams, device):
    """The initial state of one group's runs `batch`, computed on `device`.

    Like training, initialization computes in batches of exactly `self.seed_group`
    runs (padded with copies), so a run's initial bits do not depend on how many
    runs share its condition or its chunk."""
    put = lambda x: jax.device_put(x, device)
    parts = []
    for ci in dict.fromkeys(c for c, _ in batch):  # a chunk is condition by condition
      rows = [r for c, r in batch if c == ci]
      n = len(rows)
      rows = pad(rows, self.seed_group)
      data, impls = streams[ci]
      keys = {k: jax.random.wrap_key_data(put(np.stack([d[r] for r in rows])), impl=impls[k])
              for k, d in data.items()}
      state = self.init[ci](keys, put(stacked_values(self.plan.experiments[ci], self.seed_group)))
      layout = self.plan.layouts[ci]
      if "perturbation" in layout:
        pkeys, enabled = perturbation_keys(self.plan.conditions[ci].seeds, layout,
                                           np.array(rows))
        state = stacked(self.plan.experiments[ci], "perturb")(
            state, jax.device_put(pkeys, device), put(np.asarray(enabled)))
      parts.append(state if n == self.seed_group else jax.tree.map(lambda a, n=n: a[:n], state))
    return _concat(parts)

  def init_groups(self, runs) -> placement.SeedGroups:
    """The initial states of `runs` ((condition, seed row) pairs, a whole number
    of seed groups per device: `seed_group.pad_runs`), each group made on its device.

    Args:
      runs: the (condition, seed row) pairs, padded.

    Returns:
      Their initial states as `SeedGroups`.
    """
    streams = self._stream_keys(runs)
    return placement.SeedGroups.build(
        self.mesh, self.seed_group, len(runs),
        lambda rows, d: self._group_state([runs[i] for i in rows], streams, d))

  def abstract_group(self, run: tuple[int, int]):
    """The shapes of one group of runs like `run`, allocating nothing.

    Args:
      run: a (condition, seed row) pair.

    Returns:
      The `jax.ShapeDtypeStruct` tree of `seed_group` such runs' states.
    """
    ci, row = run
    keys = condition_keys(self.plan.conditions[ci].seeds, self.plan.layouts[ci],
                          np.full(self.seed_group, row))
    return jax.eval_shape(self.init[ci], keys, stacked_values(self.plan.experiments[ci],
                                                              self.seed_group))

  def run_bytes(self, group, data, segments) -> tuple[int, int]:
    """Memory from XLA's analysis of the programs compiled for one group
    (its arrays, or its shapes from `abstract_group`): the very programs that
    then run, so nothing is compiled twice.

    Args:
      group: one group's run states, or their shapes.
      data: the experiment's data.
      segments: a full piece's segments.

    Returns:
      (held, temporaries): bytes each run holds on its device for the whole
      chunk (arguments and outputs: parameters, optimizer state, records, less
      the outputs that reuse donated arguments; the shared data is spread over
      the runs, so this is an upper bound), and
      XLA's temporaries of one group's program (activations of the runs
      computing at once), which a device needs once: its groups run in turn.
    """
    held = temporaries = 0
    for key in (("piece", segments), ("evaluate", "final")):
      m = self.compiled(key, group, data).memory_analysis()
      if m is None:
        continue
      own = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
      held = max(held, own / self.seed_group)
      temporaries = max(temporaries, m.temp_size_in_bytes)
    return int(held), int(temporaries)
