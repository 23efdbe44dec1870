"""The same seed sweep as a PyTorch user writes it: one seed after another.

  python -m benchmarks.torch_sweep --hidden=32 --batch=16 --seeds=64 --steps=200

The adding problem at length `--length` (two inputs per step), one
`torch.nn.LSTM` layer and a linear readout at the last step, MSE, Adam
(lr 3e-3), gradient norm clipped at 1, a fresh batch every step, validation
on 64 fixed examples every steps // 40 steps and on 512 at the end: the work
of `python -m experiments.seed_sweep` with the same settings
(`benchmarks/end_to_end.py` runs both). Prints the median final validation
loss; uses every core and flushes denormals, torch's fastest CPU settings.
"""

import argparse
import os
import time

import torch


def adding(n, length, gen):
  values = torch.rand(n, length, generator=gen)
  first = torch.randint(0, length // 2, (n,), generator=gen)
  second = torch.randint(length // 2, length, (n,), generator=gen)
  markers = torch.zeros(n, length)
  markers[torch.arange(n), first] = 1.0
  markers[torch.arange(n), second] = 1.0
  return torch.stack([values, markers], -1), (values * markers).sum(-1, keepdim=True)


def main():
  p = argparse.ArgumentParser()
  for name, default in (("hidden", 32), ("batch", 16), ("length", 100), ("seeds", 64),
                        ("steps", 200)):
    p.add_argument(f"--{name}", type=int, default=default)
  a = p.parse_args()
  torch.set_num_threads(os.cpu_count() or 1)
  torch.set_flush_denormal(True)
  eval_gen = torch.Generator().manual_seed(12345)
  curve_x, curve_y = adding(64, a.length, eval_gen)
  val_x, val_y = adding(512, a.length, eval_gen)
  every = max(1, a.steps // 40)
  finals = []
  start = time.perf_counter()
  for seed in range(a.seeds):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.LSTM(2, a.hidden, batch_first=True)
    head = torch.nn.Linear(a.hidden, 1)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    predict = lambda x: head(net(x)[0][:, -1])
    for step in range(1, a.steps + 1):
      x, y = adding(a.batch, a.length, gen)
      opt.zero_grad()
      loss = torch.mean((predict(x) - y) ** 2)
      loss.backward()
      torch.nn.utils.clip_grad_norm_(params, 1.0)
      opt.step()
      if step % every == 0:
        with torch.no_grad():
          torch.mean((predict(curve_x) - curve_y) ** 2).item()
    with torch.no_grad():
      finals.append(torch.mean((predict(val_x) - val_y) ** 2).item())
  train_s = time.perf_counter() - start
  finals.sort()
  print(f"torch {torch.__version__}: {a.seeds} seeds x {a.steps} steps in {train_s:.1f} s "
        f"({a.seeds * a.steps / train_s:.1f} seed-steps/s); median final validation loss "
        f"{finals[len(finals) // 2]:.4g}")


if __name__ == "__main__":
  main()
