"""The recurrent A2C experiment: replay, resets, evaluation, the engine, bad settings
(command lines as processes of their own, forked from a server that has imported JAX:
tests/forked.py)."""

import csv
import dataclasses
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstm_init.training import experiment
from lstm_init.core import keys as keys_lib
from lstm_init.engine import sweep
from lstm_init.engine.execute.hooks import Hook
from lstm_init.engine.execute.signals import StopSignals
from lstm_init.errors import Interrupted
from lstm_init.training.rl import a2c
from lstm_init.report.summary import ConditionSummary
from tests import forked
from tests.helpers import merged


def small_config(env="CartPole-v1", **rl):
  from configs.a2c_cartpole import get_config
  c = get_config()
  c.sweep = ()
  c.num_seeds = 3
  c.rl.env = env
  c.rl.num_envs, c.rl.rollout_len, c.rl.eval_episodes, c.rl.curve_episodes = 4, 8, 4, 2
  c.model.hidden_size = 8
  c.train.steps, c.train.eval_every, c.train.log_every = 6, 3, 3
  c.report, c.seed_group = False, 1
  for k, v in rl.items():
    c.rl[k] = v
  return c


def _first_update(config, seed=0):
  spec = a2c.make_a2c(config)
  exp = a2c.make_experiment(config)
  values = {k: jnp.asarray(v, jnp.float32) for k, v in exp.values.items()}
  state = spec.init(keys_lib.streams_of(jax.random.key(seed)), values)
  after, traj = spec.rollout(state)
  outs = spec.replay(state.params, state, traj)
  log_prob, _ = spec.log_prob_entropy(outs["policy"], traj["action"])
  return spec, state, after, traj, outs, log_prob


@pytest.mark.parametrize("env,extra", [
    ("MemoryChain-bsuite", {"memory_length": 3}),
    ("Pendulum-v1", {"log_std": "state_independent"}),
    ("Pendulum-v1", {"log_std": "state_dependent", "critic": "shared"}),
])
def test_replayed_log_probs_equal_the_rollouts_across_episode_ends(env, extra):
  config = small_config(env, **extra)
  # Noisy learned initial states: the replay must redraw the same noise at each reset.
  config.model.initial_state.strategy = "learned_noisy"
  config.model.initial_state.noise_std = 0.3
  config.rl.rollout_len = 205 if env == "Pendulum-v1" else 10  # Pendulum: 200-step episodes
  spec, state, after, traj, outs, log_prob = _first_update(config)
  done = np.asarray(traj["done"])
  assert done[:-1].any(), "no episode ended inside the rollout"
  assert np.asarray(traj["start"])[1:].any()
  np.testing.assert_allclose(np.asarray(log_prob), np.asarray(traj["log_prob"]), atol=1e-6)
  np.testing.assert_allclose(np.asarray(outs["value"]), np.asarray(traj["value"]), atol=1e-6)
  if env == "Pendulum-v1":
    # Every episode here ends in truncation (a time limit): bootstrapped from V(final obs).
    boot = np.asarray(traj["reward"] - traj["raw_reward"] * spec.reward_scale)
    assert np.all(boot[done] != 0) and np.all(boot[~done] == 0)


def test_a_reset_restarts_the_state_and_the_carry_continues_otherwise():
  config = small_config("MemoryChain-bsuite", memory_length=3)
  config.rl.rollout_len = 10
  spec, state, after, traj, outs, _ = _first_update(config)
  # The replay without the resets differs from the rollout after the first episode end.
  no_reset = dict(traj, start=jnp.zeros_like(traj["start"]).at[0].set(True))
  other = spec.replay(state.params, state, no_reset)
  first_end = int(np.argmax(np.asarray(traj["done"]).any(axis=1)))
  same = np.asarray(other["value"][:first_end + 1]) - np.asarray(traj["value"][:first_end + 1])
  later = np.asarray(other["value"][first_end + 1:]) - np.asarray(traj["value"][first_end + 1:])
  assert np.abs(same).max() < 1e-6 and np.abs(later).max() > 1e-4
  # The next rollout starts where this one stopped: the carry and the environments go on.
  assert not np.allclose(np.asarray(after.carries["actor"][0][0]), 0.0)
  np.testing.assert_array_equal(np.asarray(after.start), np.asarray(traj["done"][-1]))


def test_evaluation_is_deterministic_and_the_same_for_every_run():
  config = small_config()
  spec, exp = a2c.make_a2c(config), a2c.make_experiment(config)
  values = {k: jnp.asarray(v, jnp.float32) for k, v in exp.values.items()}
  init = lambda seed: spec.init(keys_lib.streams_of(jax.random.key(seed)), values)
  state = init(0)
  data = exp.data  # {"eval_seed"}: the same for every run
  a = spec.evaluate(state, data, "val")
  b = spec.evaluate(state, data, "val")
  assert float(a["loss"]) == float(b["loss"])
  # Other training keys, the same parameters: the same evaluation episodes.
  other = init(5)
  assert not any(np.array_equal(jax.random.key_data(other.keys[k]),
                                jax.random.key_data(state.keys[k])) for k in state.keys)
  c = spec.evaluate(other.replace(params=state.params), data, "val")
  assert float(c["loss"]) == float(a["loss"])
  # The seed comes from the data, as the experiment contract says: another seed,
  # other episodes.
  d = spec.evaluate(state, {"eval_seed": data["eval_seed"] + 1}, "val")
  assert float(d["loss"]) != float(a["loss"])
  # Whole episodes: CartPole returns are whole numbers between 1 and 500.
  returns = np.asarray(spec.episodes(state.params, state.values, 8, jax.random.key(0)))
  assert np.all(returns == np.round(returns)) and np.all((returns >= 1) & (returns <= 500))


@pytest.fixture(scope="module")
def memory_chain_run():
  """4 seeds of 300 updates on MemoryChain at memory length 1 (one program, read
  by two tests)."""
  config = small_config("MemoryChain-bsuite", memory_length=1)
  config.rl.num_envs, config.rl.rollout_len, config.rl.eval_episodes = 16, 8, 32
  config.model.hidden_size = 16
  config.train.learning_rate = 3e-3
  train = jax.jit(jax.vmap(experiment.make_train(config, 300)))
  return config, train(jax.random.split(jax.random.key(0), 4))


def test_memory_chain_is_learned_at_memory_length_one(memory_chain_run):
  _, out = memory_chain_run
  # Chance is 0.5; a run that recalls the bit answers every evaluation episode right.
  success = np.asarray(out["eval"]["metric"])
  assert np.median(success) >= 0.9, success


def _shared_config():
  """`small_config` with two learning rates (values of one program, compiled once
  for this file) x 12 seeds, checkpointed after each of its 2 pieces of 3 steps."""
  c = small_config()
  c.sweep, c.num_seeds, c.checkpoint_every_s = ("train.learning_rate=0.002,0.004",), 12, 0
  return c


@pytest.fixture(scope="module")
def shared_sweep(tmp_path_factory):
  """One uninterrupted sweep of `_shared_config`, read by two tests."""
  return sweep.run_sweep(_shared_config(), str(tmp_path_factory.mktemp("rl") / "full"),
                         log=lambda s: None)


def test_a_seed_is_the_same_alone_and_among_others_and_the_summary_matches_rliable(
    tmp_path, shared_sweep):
  """Seed 0 of learning rate 0.002 alone against its seed 0 among 12 seeds of two
  learning rates; that condition's summary against rliable."""
  alone = small_config()
  alone.num_seeds, alone.train.learning_rate = 1, 0.002
  a = sweep.run_sweep(alone, str(tmp_path / "a"), log=lambda s: None)
  b = shared_sweep
  first = "learning_rate=0.002"
  assert b.rows[0]["condition"] == first and b.rows[0]["seed"] == 0
  assert a.rows[0]["final_eval_loss"] == b.rows[0]["final_eval_loss"]
  assert a.rows[0]["final_test_loss"] == b.rows[0]["final_test_loss"]
  s = b.summary_record
  assert s["lower_is_better"] is False and s["step_unit"] == "environment steps"
  assert s["steps_per_update"] == 4 * 8 and s["failure_line"] == 100.0
  # The IQM and its stratified bootstrap interval against rliable (one task: one stratum).
  from rliable import library as rly
  from rliable import metrics as rl_metrics
  scores = np.array([r["final_eval_loss"] for r in b.rows if r["condition"] == first])
  assert len(scores) == 12
  mine = s["conditions"][first]
  point, interval = rly.get_interval_estimates(
      {"x": scores[:, None]}, lambda x: np.array([rl_metrics.aggregate_iqm(x)]), reps=5000)
  np.testing.assert_allclose(mine["iqm"], point["x"][0], rtol=1e-12)
  width = interval["x"][1, 0] - interval["x"][0, 0]
  assert width > 0
  # Two bootstraps with other random streams: endpoints agree within 10% of the width
  # (Monte Carlo error of a 2.5% quantile from 2000 resamples is about 2% of it, from
  # rliable's 5000 about 1%: the difference's is under 2.5%).
  assert abs(mine["iqm_ci95_low"] - interval["x"][0, 0]) < 0.1 * width
  assert abs(mine["iqm_ci95_high"] - interval["x"][1, 0]) < 0.1 * width
  assert mine["n_failed"] == int(np.sum(scores < 100))


def test_performance_profile_and_probability_of_improvement_match_rliable():
  from rliable import library as rly
  from rliable import metrics as rl_metrics
  from lstm_init.core import stats
  from lstm_init.report import tables
  rng = np.random.default_rng(3)
  x, y = np.round(rng.normal(300, 80, 20)), np.round(rng.normal(250, 90, 16))
  taus = np.linspace(50, 500, 31)
  profile, _ = rly.create_performance_profile({"x": x[:, None]}, taus, reps=10)
  np.testing.assert_allclose(stats.performance_profile(x, taus), profile["x"], atol=1e-12)
  # P(x better than y) for returns (higher is better), as the report orients it.
  m = merged(higher=True)
  mine = stats.probability_of_improvement(tables.oriented(m, x), tables.oriented(m, y))
  np.testing.assert_allclose(mine, rl_metrics.probability_of_improvement(x[:, None], y[:, None]),
                             atol=1e-12)


@pytest.mark.parametrize("flag,message", [
    ("--config.rl.env=Nope-v0", "error: unknown environment 'Nope-v0'; valid choices: "
                                "CartPole-v1, MemoryChain-bsuite"),
    ("--config.rl.num_envs=0", "error: bad value 0 for rl.num_envs; valid: >= 1"),
    ("--config.rl.gamma=1.5", "error: bad value 1.5 for rl.gamma; valid: in [0, 1]"),
    ("--config.model.dropout=0.2", "error: --config.model.dropout=0.2 would have no effect: this "
                                   "experiment does not read it"),
])
def test_bad_rl_settings_are_one_line_and_exit_2(tmp_path, flag, message):
  out = forked.run(["-m", "experiments.seed_sweep", "--config=configs/a2c_cartpole.py", flag,
                    f"--workdir={tmp_path}"], timeout=300)
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-1500:]
  assert out.stderr.strip().startswith(message), out.stderr
  assert len(out.stderr.strip().splitlines()) == 1


class _StopAt(Hook):
  """Sends this process a real SIGTERM after the piece that ends at `step`; the
  loop's own handler (`execute.signals.StopSignals`) must be the one installed."""

  def __init__(self, step):
    self.step, self.sent = step, False

  def on_piece(self, event):
    if event.step == self.step and not self.sent:
      handler = signal.getsignal(signal.SIGTERM)
      assert isinstance(getattr(handler, "__self__", None), StopSignals), handler
      self.sent = True
      os.kill(os.getpid(), signal.SIGTERM)


def test_an_interrupted_rl_sweep_resumes_to_the_same_results(tmp_path, shared_sweep):
  """`_shared_config` stopped by a real SIGTERM after its first piece (environments,
  carries and optimizer state mid-run), then resumed from its checkpoint in the
  same call's way: every results.csv value and every curve the same bits as the
  uninterrupted sweep. In process: a killed command-line sweep (SIGTERM, then
  SIGKILL, in a subprocess) is tests/test_scaling.py's."""
  wd = tmp_path / "stopped"
  stop = _StopAt(3)
  with pytest.raises(Interrupted, match="checkpoint written to"):
    sweep.run_sweep(_shared_config(), str(wd), log=lambda s: None, hooks=[stop])
  assert stop.sent and (wd / "checkpoint.msgpack").exists() and not (wd / "results.csv").exists()
  assert len(list(csv.DictReader(open(wd / "results.partial.csv")))) == 24
  lines = []
  resumed = sweep.run_sweep(_shared_config(), str(wd), log=lines.append)
  assert any(line.startswith("resuming from") for line in lines), lines
  assert any(line.endswith("resuming at step 3") for line in lines), lines
  read = lambda w: list(csv.DictReader(open(os.path.join(w, "results.csv"))))
  assert len(read(wd)) == 24 and read(wd) == read(shared_sweep.workdir)
  assert set(resumed.curve_arrays) == set(shared_sweep.curve_arrays)
  for k, v in shared_sweep.curve_arrays.items():
    np.testing.assert_array_equal(resumed.curve_arrays[k], v, err_msg=k)


def test_steps_to_target_is_the_first_evaluation_at_or_past_it():
  from lstm_init.report.summary import steps_to_target
  curve = np.array([[10., 480., 300., 500.], [10., 20., 30., 40.], [476., 1., 1., 1.]])
  steps = np.array([0, 100, 200, 300, -1])  # -1: a padded evaluation
  curve = np.concatenate([curve, np.full((3, 1), 999.)], axis=1)  # ignored with its pad
  np.testing.assert_array_equal(steps_to_target(curve, steps, 475, True), [100, np.inf, 0])
  np.testing.assert_array_equal(steps_to_target(-curve, steps, -475, False), [100, np.inf, 0])


@pytest.mark.parametrize("env,low,high", [
    ("MemoryChain-bsuite", -1.0, 1.0), ("MountainCarContinuous-v0", -100.0, 100.0)])
def test_every_environment_trains_and_evaluates_within_its_return_range(env, low, high, request):
  if env == "MemoryChain-bsuite":  # trained already: 4 seeds x 300 updates
    config, out = request.getfixturevalue("memory_chain_run")
  else:
    config = small_config(env)
    out = jax.jit(experiment.make_train(config, 2))(jax.random.key(1))
  assert np.asarray(out["train_loss"]).size and np.all(np.isfinite(np.asarray(out["train_loss"])))
  spec = a2c.make_a2c(config)

  @jax.jit  # one program (eagerly, each of init's many operations would compile alone)
  def episodes(key, values):
    state = spec.init(keys_lib.streams_of(key), values)
    return spec.episodes(state.params, state.values, 6, jax.random.key(0))

  returns = np.asarray(episodes(jax.random.key(1), {
      k: jnp.asarray(v, jnp.float32) for k, v in a2c.run_values(config).items()}))
  assert np.all((returns >= low) & (returns <= high)), returns
  if env == "MemoryChain-bsuite":  # one answer per episode: exactly +1 or -1
    assert set(np.unique(returns)) <= {-1.0, 1.0}
    # The bits alternate, and the first observation shows each (as +-1), so a
    # policy that ignores the bit is right exactly half the time.
    obs, states = jax.vmap(spec.env.eval_reset)(jax.random.split(jax.random.key(0), 6),
                                                jnp.arange(6))
    np.testing.assert_array_equal(np.asarray(states.context)[:, 0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(np.asarray(obs)[:, 2], [-1, 1, -1, 1, -1, 1])


def test_the_best_seed_study_refuses_a_return_instead_of_ranking_it_backwards(tmp_path):
  out = forked.run(["-m", "experiments.best_seed", "--config=configs/a2c_cartpole.py",
                    "--config.model.init.preset=keras", f"--workdir={tmp_path}"], timeout=300)
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-1500:]
  assert out.stderr.strip().startswith("error: the best-seed study ranks seeds by a loss")
  assert not os.listdir(tmp_path)


def test_a_two_axis_sweep_is_laid_out_on_a_grid(tmp_path):
  from lstm_init.report import figures, tables
  conds = [("keras", 5), ("keras", 10), ("chrono", 5), ("chrono", 10)]
  metric = [np.array([1., 1., 0.5]), np.array([0.5, 0.5, 1.]), np.ones(3), np.ones(3)]
  m = merged(conditions=[f"p={p},L={l}" for p, l in conds],
             summaries=[{"overrides": {"model.init.preset": p, "rl.memory_length": l}}
                        for p, l in conds],
             metric=metric, diverged=[np.zeros(3, bool)] * 4, metric_name="success rate",
             curves=[np.tile(x[:, None], (1, 4)) for x in metric],
             steps=[np.array([0, 10, 20, 30])] * 4, baselines=[np.nan] * 4, baseline=None,
             higher=True, score="return", step_unit="environment steps")
  grid = tables.two_axis_grid(m)
  # The numeric axis is the columns, in increasing order.
  assert grid["cols"] == ("rl.memory_length", [5, 10])
  assert grid["rows"] == ("model.init.preset", ["keras", "chrono"])
  head, rows = tables.grid_table(m, grid)
  assert rows[0] == ["keras", "1 [0.75, 1]", "0.5 [0.5, 0.75]"]
  assert rows[1] == ["chrono", "1 [1, 1]", "1 [1, 1]"]
  for path in (figures.fig_grid(m, str(tmp_path), grid),
               figures.fig_curves(m, str(tmp_path), grid)):
    assert os.path.getsize(tmp_path / path) > 1000
  # One axis only: no grid.
  m1 = dataclasses.replace(m, summaries=[ConditionSummary.from_dict(
      {"n": 3, "n_diverged": 0, "overrides": {"rl.memory_length": l}}) for _, l in conds])
  assert tables.two_axis_grid(m1) is None


def test_per_layer_learning_rates_are_refused_for_the_actor_critic():
  from lstm_init import ConfigError
  from lstm_init.training.rl.a2c import make_a2c
  from configs.a2c_cartpole import get_config
  cfg = get_config()
  cfg.train.lr_scaling = "mup"
  with pytest.raises(ConfigError, match=r"train.lr_scaling='mup': the per-layer learning rates "
                                        r"name the supervised LSTM's parameters"):
    make_a2c(cfg)
