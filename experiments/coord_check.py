"""The coordinate check (microsoft/mup's coord_check) for the LSTM: the size of
every activation and update against width, at initialization and after 1, 2,
5 and 10 steps, with its log-log slope.

  python -m experiments.coord_check --workdir=runs/coord_check
  python -m experiments.coord_check --config.coord_check.conditions=pytorch,mup

This file only parses flags; the logic is in `lstm_init.studies.coord_check`.
"""

import os
import time

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.studies import coord_check

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "width_transfer.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/<date>-coord_check).")
cli.define_run_flags()


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  workdir = _WORKDIR.value or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-coord_check")
  coord_check.run_coord_check(config, workdir, given=cli.given_values(_CONFIG))


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
