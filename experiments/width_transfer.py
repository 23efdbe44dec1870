"""Does the best learning rate survive a wider LSTM? Every condition x width x
learning rate x seed trained; the best learning rate per width, its drift with
width and a verdict per condition.

  python -m experiments.width_transfer --workdir=runs/width_transfer
  python -m experiments.width_transfer --config.scale=paper --workdir=runs/width_paper

This file only parses flags; the logic is in `lstm_init.studies.width`.
"""

import os
import time

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.studies import width

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "width_transfer.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None,
                               "Output folder (default: runs/<date>-width_transfer).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace earlier results in the workdir.")
cli.define_run_flags()


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  workdir = _WORKDIR.value or os.path.join("runs",
                                           time.strftime("%Y%m%d-%H%M%S") + "-width_transfer")
  width.run_width_transfer(config, workdir, overwrite=_OVERWRITE.value,
                           given=cli.given_values(_CONFIG))


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
