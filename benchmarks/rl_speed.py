"""Recurrent A2C on CartPole-v1: environment steps per second, four ways, one script.

  python -m benchmarks.rl_speed                     # 64 seeds, the config's agent
  python -m benchmarks.rl_speed --seeds=8 --updates=50 --torch_seeds=1   # quick

  sweep     `python -m experiments.seed_sweep --config=configs/a2c_cartpole.py`
            with --seeds runs (16 per preset for 64) and --updates updates, as
            a user runs it: its own process, seeds sharded over the host devices
            (one per core), learning-curve evaluations included; its `time:`
            line splits start-up, compile and training. Cold and warm cache.
  vmapped   `jit(vmap(train))` over all seeds at once in this process, on one
            device (every environment step of every seed in one program).
  own loop  the same jitted `train` called one seed after another.
  torch     an A2C-LSTM written the way a PyTorch user writes it today: a
            gymnasium `SyncVectorEnv` of the same environments, `nn.LSTMCell`
            actor and critic of the same sizes, the same rollout, GAE, loss,
            clip and Adam, one seed after another.

Every arm runs `--updates` updates of `num_envs x rollout_len` environment
steps per seed (configs/a2c_cartpole.py). For the JAX arms the steady state
(the second call of the compiled program) and the first call (compile
included) are both timed. Ratios are against the torch loop (> 1: faster).
JSON to --out.
"""

import json
import os
import platform
import sys
import tempfile
import time

import jax
from absl import app, flags

from benchmarks.process import parse_times, timed
from configs.a2c_cartpole import get_config
from lstm_init.training import experiment

_SEEDS = flags.DEFINE_integer("seeds", 64, "Seeds of the sweep (4 presets, a multiple of 4) and vmapped arms.")
_UPDATES = flags.DEFINE_integer("updates", 500, "Updates per seed in every arm.")
_LOOP_SEEDS = flags.DEFINE_integer("loop_seeds", 4, "Seeds timed in our own loop.")
_TORCH_SEEDS = flags.DEFINE_integer("torch_seeds", 2, "Seeds timed in the torch loop.")
_OUT = flags.DEFINE_string("out", "benchmarks/rl_speed.json", "JSON output path.")


def jax_arm(exp, seeds: int, updates: int, vmapped: bool) -> dict:
  train = experiment.make_train(exp, updates)
  keys = jax.random.split(jax.random.key(0), seeds)
  if vmapped:
    fn = jax.jit(jax.vmap(train))
    calls = [lambda: fn(keys)]
  else:
    fn = jax.jit(train)
    calls = [lambda k=k: fn(k) for k in keys]
  timings = []
  for _ in range(2):  # first: compile included; second: steady state
    start = time.perf_counter()
    for call in calls:
      jax.block_until_ready(call())
    timings.append(time.perf_counter() - start)
  return {"seeds": seeds, "first_call_s": timings[0], "steady_s": timings[1]}


def sweep_arm(seeds: int, updates: int) -> dict:
  """The sweep's whole process, cold then warm compilation cache."""
  out = {"seeds": seeds}
  with tempfile.TemporaryDirectory() as tmp:
    cache = os.path.join(tmp, "cache")
    for side in ("cold", "warm"):
      wall, stdout = timed([
          sys.executable, "-m", "experiments.seed_sweep", "--config=configs/a2c_cartpole.py",
          f"--workdir={os.path.join(tmp, side)}", f"--compilation_cache={cache}",
          f"--config.num_seeds={seeds // 4}", f"--config.train.steps={updates}",
          f"--config.train.log_every={updates}", "--config.report=False"])
      out[side] = {"wall_s": wall, **parse_times(stdout)}
  out["steady_s"] = out["warm"]["training_s"]
  return out


def torch_arm(c, seeds: int, updates: int) -> dict:
  import gymnasium
  import torch
  from torch import nn

  envs_n, T, H = int(c.rl.num_envs), int(c.rl.rollout_len), int(c.model.hidden_size)
  gamma, lam = float(c.rl.gamma), float(c.rl.gae_lambda)

  class ActorCritic(nn.Module):
    def __init__(self, obs, actions):
      super().__init__()
      self.actor, self.critic = nn.LSTMCell(obs, H), nn.LSTMCell(obs, H)
      self.pi, self.v = nn.Linear(H, actions), nn.Linear(H, 1)

  total = 0.0
  for seed in range(seeds):
    torch.manual_seed(seed)
    env = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("CartPole-v1")] * envs_n)
    obs, _ = env.reset(seed=seed)
    net = ActorCritic(4, 2)
    opt = torch.optim.Adam(net.parameters(), lr=float(c.train.learning_rate))
    zeros = lambda: (torch.zeros(envs_n, H), torch.zeros(envs_n, H))
    ca, cc, done = zeros(), zeros(), torch.zeros(envs_n)
    start = time.perf_counter()
    for _ in range(updates):
      logps, ents, values, rewards, dones = [], [], [], [], []
      ca, cc = tuple(x.detach() for x in ca), tuple(x.detach() for x in cc)
      for _ in range(T):
        keep = (1.0 - done)[:, None]
        ca, cc = tuple(x * keep for x in ca), tuple(x * keep for x in cc)
        o = torch.as_tensor(obs, dtype=torch.float32)
        ca, cc = net.actor(o, ca), net.critic(o, cc)
        dist = torch.distributions.Categorical(logits=net.pi(ca[0]))
        action = dist.sample()
        obs, r, term, trunc, _ = env.step(action.numpy())
        done = torch.as_tensor(term | trunc, dtype=torch.float32)
        logps.append(dist.log_prob(action)), ents.append(dist.entropy())
        values.append(net.v(cc[0])[:, 0]), rewards.append(torch.as_tensor(r, dtype=torch.float32))
        dones.append(done)
      with torch.no_grad():
        o = torch.as_tensor(obs, dtype=torch.float32)
        keep = (1.0 - done)[:, None]
        boot = net.v(net.critic(o, tuple(x * keep for x in cc))[0])[:, 0]
        vals = torch.stack(values).detach()
        adv, later = torch.zeros(T, envs_n), torch.zeros(envs_n)
        nxt = boot
        for t in reversed(range(T)):
          nd = 1.0 - dones[t]
          delta = rewards[t] + gamma * nd * nxt - vals[t]
          later = delta + gamma * lam * nd * later
          adv[t], nxt = later, vals[t]
        ret = adv + vals
        adv = adv / (adv.std() + 1e-8)
      v = torch.stack(values)
      loss = (-(torch.stack(logps) * adv).mean() + float(c.rl.value_coef) * 0.5
              * ((ret - v) ** 2).mean() - float(c.rl.entropy_coef) * torch.stack(ents).mean())
      opt.zero_grad()
      loss.backward()
      nn.utils.clip_grad_norm_(net.parameters(), float(c.train.clip_norm))
      opt.step()
    total += time.perf_counter() - start
  return {"seeds": seeds, "steady_s": total, "torch": torch.__version__,
          "gymnasium": gymnasium.__version__}


def main(argv):
  del argv
  c = get_config()
  exp = experiment.build(c)
  updates = _UPDATES.value
  per_seed = updates * int(c.rl.num_envs) * int(c.rl.rollout_len)
  arms = {"sweep": sweep_arm(_SEEDS.value, updates),
          "vmapped": jax_arm(exp, _SEEDS.value, updates, True),
          "own_loop": jax_arm(exp, _LOOP_SEEDS.value, updates, False),
          "torch": torch_arm(c, _TORCH_SEEDS.value, updates)}
  for arm in arms.values():
    arm["env_steps_per_s"] = arm["seeds"] * per_seed / arm["steady_s"]
    if "first_call_s" in arm:
      arm["env_steps_per_s_first_call"] = arm["seeds"] * per_seed / arm["first_call_s"]
    for side in ("cold", "warm"):
      if side in arm:  # the whole process, start-up, compile and report included
        arm[side]["env_steps_per_s_whole"] = arm["seeds"] * per_seed / arm[side]["wall_s"]
  base = arms["torch"]["env_steps_per_s"]
  out = {"workload": {"env": c.rl.env, "num_envs": int(c.rl.num_envs),
                      "rollout_len": int(c.rl.rollout_len), "hidden": int(c.model.hidden_size),
                      "updates": updates, "env_steps_per_seed": per_seed},
         "machine": {"platform": platform.platform(), "backend": jax.default_backend(),
                     "devices": jax.device_count(), "jax": jax.__version__},
         "arms": arms,
         "ratios_vs_torch": {k: a["env_steps_per_s"] / base for k, a in arms.items()},
         "vmapped_vs_own_loop_per_seed": (arms["vmapped"]["env_steps_per_s"]
                                          / arms["own_loop"]["env_steps_per_s"])}
  for k, a in arms.items():
    print(f"{k:9s} {a['seeds']:4d} seeds  {a['env_steps_per_s']:>12,.0f} env steps/s  "
          f"({out['ratios_vs_torch'][k]:.1f}x torch)"
          + (f"  first call {a['first_call_s']:.1f} s" if "first_call_s" in a else "")
          + "".join(f"  {side}: {a[side]['wall_s']:.1f} s whole process "
                    f"({a[side]['env_steps_per_s_whole']:,.0f} env steps/s, "
                    f"{a[side]['env_steps_per_s_whole'] / base:.1f}x torch)"
                    for side in ("cold", "warm") if side in a))
  print(f"vmapped / own loop: {out['vmapped_vs_own_loop_per_seed']:.1f}x")
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  app.run(main)
