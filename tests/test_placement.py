"""Seed groups on devices (engine.execute.placement): built group by group, run
through one executable each, fetched in run order, restored from host arrays."""

import jax
import jax.numpy as jnp
import numpy as np

from lstm_init.engine.execute import placement


def _make(rows, device):
  """A group's tree: each run's index, and a typed key per run."""
  idx = jnp.asarray(np.arange(rows.start, rows.stop, dtype=np.float32))
  keys = jax.vmap(jax.random.key)(jnp.arange(rows.start, rows.stop))
  return jax.device_put({"x": idx, "k": keys}, device)


def test_groups_are_built_in_run_order_and_fetched_back_as_one_stack():
  mesh = placement.run_mesh(1)
  groups = placement.SeedGroups.build(mesh, size=2, n=6, make=_make)
  assert [len(g) for g in groups.by_device.values()] == [3]
  host = groups.fetch()
  np.testing.assert_array_equal(host["x"], np.arange(6, dtype=np.float32))
  assert host["k"].shape[0] == 6  # typed keys as their key data


def test_one_executable_runs_every_group_and_the_outputs_keep_their_order():
  mesh = placement.run_mesh(1)
  groups = placement.SeedGroups.build(mesh, size=2, n=6, make=_make)
  program = placement.SeedGroupProgram(jax.vmap(lambda t: t["x"] * 2.0), mesh)
  compiled = program.compile(groups.first)
  out = compiled(groups).fetch()
  np.testing.assert_array_equal(out, 2.0 * np.arange(6))
  assert len(compiled.executables) == 1 and compiled.memory_analysis() is not None


def test_host_arrays_are_placed_back_into_groups_with_their_keys_typed():
  mesh = placement.run_mesh(1)
  groups = placement.SeedGroups.build(mesh, size=3, n=6, make=_make)
  host = groups.fetch()
  back = placement.SeedGroups.from_host(host, mesh, 3, groups.first)
  again = back.fetch()
  np.testing.assert_array_equal(again["x"], host["x"])
  np.testing.assert_array_equal(again["k"], host["k"])
  assert jax.dtypes.issubdtype(back.first["k"].dtype, jax.dtypes.prng_key)
