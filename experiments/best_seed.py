"""Is the best seed real? Select the best seed on validation, check it on test and
on retraining with new data orders.

  python -m experiments.best_seed --workdir=runs/best_seed
  python -m experiments.best_seed --config=configs/best_seed.py --config.num_seeds=64

This file only parses flags; the logic is in `lstm_init.best_seed`.
"""

import os
import time

from absl import app, flags

from lstm_init import best_seed, cli

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "best_seed.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/<date>-best_seed).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace earlier results in the workdir.")


def main(argv):
  del argv
  cli.log_devices()
  workdir = _WORKDIR.value or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-best_seed")
  cli.run_main(lambda: best_seed.run_best_seed(cli.config_value(_CONFIG), workdir,
                                               overwrite=_OVERWRITE.value))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
