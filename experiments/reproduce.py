"""Re-train runs of a finished sweep from its records and compare them bit for bit.

  python -m experiments.reproduce --workdir=runs/default                    # every run
  python -m experiments.reproduce --workdir=runs/default --seeds=0,17 \\
      --condition=preset=keras

Prints, per run, the recorded and the recomputed final validation score and
whether every number and curve is the same bits. Exit status 0 when all are,
1 when any differs (naming the runs and what in the environment differs from
the record), 2 for a workdir that cannot be re-trained. The logic is in
`lstm_init.engine.reproduce`.
"""

import os
import sys

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.errors import ConfigError

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished sweep's folder.")
_SEEDS = flags.DEFINE_list("seeds", [], "Seeds to re-train (default: all).")
_CONDITION = flags.DEFINE_multi_string("condition", [], "Conditions to re-train, by name as "
                                       "in results.csv; repeatable (default: all).")
cli.define_run_flags()
for _name in ("workdir", "seeds", "condition", "dry_run", "cpu_devices", "compilation_cache"):
  flags.declare_key_flag(_name)


def _run() -> int:
  from lstm_init.engine import reproduce
  if not _WORKDIR.value:
    raise ConfigError("give the sweep to re-train: --workdir=<folder>")
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError:
    raise ConfigError(f"bad --seeds {','.join(_SEEDS.value)!r}; expected seed numbers such "
                      "as 0,17") from None
  cli.start_run()
  if flags.FLAGS.dry_run and not os.path.exists(_WORKDIR.value):
    print(f"would re-train the runs of {_WORKDIR.value} (not written yet); dry run")
    return 0
  if flags.FLAGS.dry_run:
    print(reproduce.describe_dry_run(_WORKDIR.value, seeds or None, _CONDITION.value or None))
    return 0
  result = reproduce.reproduce(_WORKDIR.value, seeds or None, _CONDITION.value or None)
  print(reproduce.describe(result))
  return 0 if result.identical else 1


def main(argv):
  del argv
  status = []
  cli.run_main(lambda: status.append(_run()))
  sys.exit(status[0] if status else 0)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
