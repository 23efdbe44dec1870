"""The instability design: one bit of one initial parameter, every stream shared."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init.core import perturb, stats
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.engine.spec.seeds import condition_keys
from lstm_init.engine.execute.programs import ConditionGroupPrograms
from lstm_init.engine.sweep import run_sweep
from tests.helpers import bits, tiny_config


def _instability(**over):
  cfg = tiny_config()
  cfg.design = "instability"
  cfg.num_base_seeds = 2
  cfg.num_seeds = 5
  for k, v in over.items():
    setattr(cfg, k, v)
  return cfg


def _flat(tree):
  return np.concatenate([np.asarray(a).ravel() for a in jax.tree.leaves(tree)])


def test_flip_moves_one_nonzero_element_by_exactly_one_ulp():
  params = {"a": jnp.array([[0.5, -3.0], [0.0, 1e-3]]), "b": jnp.zeros(3)}
  base = _flat(params)
  seen = set()
  for j in range(40):
    out = _flat(perturb.flip_one_ulp(params, jax.random.key(j)))
    changed = np.flatnonzero(out != base)
    assert changed.size == 1 and base[changed[0]] != 0  # zeros are never chosen
    i = changed[0]
    up, down = np.nextafter(base[i], np.float32(np.inf)), np.nextafter(base[i], -np.inf)
    assert out[i] in (up, down)
    seen.add(int(i))
  assert seen == {0, 1, 2, 3} - {2}  # every non-zero element gets chosen by some key
  same = _flat(perturb.flip_one_ulp(params, jax.random.key(0), False))
  assert same.tobytes() == base.tobytes()


def _initial_states(cfg):
  plan = plan_sweep(cfg)
  runs = [(0, r) for r in range(len(plan.layouts[0]["seed"]))]
  programs = ConditionGroupPrograms(plan, plan.groups[0], seed_group=1)
  groups = programs.init_groups(runs)
  return plan, programs, groups, jax.device_get(groups.join())


def test_runs_of_a_base_seed_differ_in_one_parameter_bit_and_nothing_else():
  plan, programs, groups, state = _initial_states(_instability())
  lay = plan.layouts[0]
  params = [_flat(jax.tree.map(lambda a, r=r: a[r], state.params)) for r in range(10)]
  for r in range(10):
    b, j = lay["init_seed"][r], lay["perturbation"][r]
    base = params[int(np.flatnonzero((lay["init_seed"] == b) & (lay["perturbation"] == 0))[0])]
    changed = np.flatnonzero(params[r] != base)
    if j == 0:
      assert changed.size == 0
      continue
    assert changed.size == 1
    i = changed[0]
    assert params[r][i] in (np.nextafter(base[i], np.float32(np.inf)),
                            np.nextafter(base[i], np.float32(-np.inf)))
  # Every stream (the state's keys), the optimizer state and the carry are the
  # base seed's for every run of it.
  keys = jax.tree.map(lambda k: np.asarray(jax.random.key_data(k)), state.keys)
  rest = (state.opt_state, state.carry)
  for r in range(10):
    b0 = 0 if lay["init_seed"][r] == 0 else 5
    for name, k in keys.items():
      np.testing.assert_array_equal(k[r], k[b0], err_msg=name)
    for a in jax.tree.leaves(rest):
      np.testing.assert_array_equal(np.asarray(a)[r], np.asarray(a)[b0])
  # The base seeds' streams are those of seeds 0 and 1 of a plain sweep.
  plain = plan_sweep(tiny_config())
  ref = condition_keys(plain.conditions[0].seeds, plain.layouts[0], np.array([0, 1]))
  for name, k in condition_keys(plan.conditions[0].seeds, lay, np.array([0, 5])).items():
    np.testing.assert_array_equal(jax.random.key_data(k), jax.random.key_data(ref[name]))
  # With no training, every run's outputs equal its base run's within float rounding.
  scores = programs.evaluate(groups, plan.experiments[0].data, "val")
  loss = np.asarray(scores["loss"])
  np.testing.assert_allclose(loss, np.repeat(loss[[0, 5]], 5), rtol=1e-5)


def test_base_run_is_the_plain_seed_bit_for_bit(tmp_path):
  inst = run_sweep(_instability(num_base_seeds=2, num_seeds=2), str(tmp_path / "i"),
                   log=lambda s: None)
  plain = run_sweep(_plain(2), str(tmp_path / "p"),
                    log=lambda s: None)
  pick = lambda rows, keep: [{k: v for k, v in r.items() if k not in keep} for r in rows]
  drop = ("seed", "perturbation")
  base = [r for r in inst.rows if r["perturbation"] == 0]
  assert bits(pick(base, drop)) == bits(pick(plain.rows, drop))
  assert [r["init_seed"] for r in base] == [0, 1]


def _plain(n):
  cfg = tiny_config()
  cfg.num_seeds = n
  return cfg


def test_one_way_components_recover_known_variances():
  rng = np.random.default_rng(0)
  b, p = 400, 8
  table = 2.0 * rng.normal(size=(b, 1)) + 1.0 * rng.normal(size=(b, p))
  out = stats.instability_components(table, key_or_seed=0, n_resamples=200)
  # var_seed 4, var_instability 1: share 0.2; 400 rows give about 7% relative error.
  assert abs(out["var_seed"] - 4.0) < 0.8 and abs(out["var_instability"] - 1.0) < 0.08
  assert out["instability_low"] < 0.2 < out["instability_high"]
  assert abs(out["instability"] + out["seed"] - 1.0) < 1e-12
  # Identical rows: all of the variance is the seed's.
  flat = np.repeat(rng.normal(size=(10, 1)), 4, axis=1)
  assert stats.instability_components(flat, n_resamples=10)["instability"] == 0.0


@pytest.mark.parametrize("field,value", [("num_seeds", 1), ("base_seed_offset", -1),
                                         ("num_base_seeds", 0)])
def test_impossible_instability_layouts_are_refused(field, value):
  from lstm_init.errors import ConfigError
  with pytest.raises(ConfigError, match="design=instability needs num_base_seeds >= 1, "
                                        "num_seeds >= 2"):
    plan_sweep(_instability(**{field: value}))


def test_load_results_keeps_the_perturbation(tmp_path):
  from lstm_init.report.results import load_results
  run_sweep(_instability(num_base_seeds=1, num_seeds=3), str(tmp_path / "w"), log=lambda s: None)
  rows = load_results(str(tmp_path / "w")).rows
  assert [r["perturbation"] for r in rows] == [0, 1, 2]


def test_instability_needs_a_perturbable_experiment():
  from lstm_init.errors import ConfigError
  from examples import gru_forecast
  cfg = gru_forecast.get_config()
  cfg.design, cfg.num_base_seeds, cfg.num_seeds = "instability", 1, 2
  with pytest.raises(ConfigError, match="design=instability needs an experiment"):
    plan_sweep(cfg)
