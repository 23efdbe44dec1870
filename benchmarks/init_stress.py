"""Stress of `init_params` under `jit(vmap)`: every preset, 1 to 4 layers, many calls.

  python -m benchmarks.init_stress                      # 1000 calls, 64 keys, H=32
  python -m benchmarks.init_stress --calls=100 --hidden=64 --devices=2

Each (preset, layers) program is compiled once and called `--calls` times on
fresh keys, sharded over `--devices` host devices; a last program holds every
preset at once. Prints the wall time per configuration. Before the orthogonal
draws stopped using jaxlib's batched LAPACK QR, such loops hung on a 2-core
machine; a hang shows here as a line that never comes.
"""

import argparse
import os
import time


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--calls", type=int, default=1000)
  parser.add_argument("--keys", type=int, default=64)
  parser.add_argument("--input", type=int, default=8)
  parser.add_argument("--hidden", type=int, default=32)
  parser.add_argument("--devices", type=int, default=2)
  args = parser.parse_args()
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={args.devices}")
  import jax
  from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

  from lstm_init import PRESETS, init_params

  sharding = NamedSharding(Mesh(jax.devices(), ("runs",)), P("runs"))

  def keys(i):
    return jax.device_put(jax.random.split(jax.random.key(i), args.keys), sharding)

  def stress(label, fn):
    f = jax.jit(jax.vmap(fn))
    start = time.perf_counter()
    jax.block_until_ready(f(keys(0)))
    compiled = time.perf_counter()
    for i in range(1, args.calls + 1):
      jax.block_until_ready(f(keys(i)))
    end = time.perf_counter()
    print(f"{label:<28} compile+first {compiled - start:5.2f} s, {args.calls} calls "
          f"{end - compiled:7.1f} s ({1e3 * (end - compiled) / args.calls:.1f} ms/call)",
          flush=True)
    return end - start

  print(f"JAX {jax.__version__}, {len(jax.devices())} device(s), {args.keys} keys per call, "
        f"I={args.input}, H={args.hidden}")
  total = 0.0
  for name in PRESETS:
    for layers in (1, 2, 3, 4):
      total += stress(f"{name} x{layers} layers", lambda k, n=name, l=layers: init_params(
          k, args.input, args.hidden, preset=n, num_layers=l))
  total += stress("every preset in one program", lambda k: [
      init_params(k, args.input, args.hidden, preset=n, num_layers=2) for n in PRESETS])
  print(f"all done in {total:.1f} s, no hang")


if __name__ == "__main__":
  main()
