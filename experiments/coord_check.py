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
for _name in cli.RUN_FLAGS + ("workdir",):  # listed by --help
  flags.declare_key_flag(_name)


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  workdir = _WORKDIR.value or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-coord_check")
  if flags.FLAGS.dry_run:
    _, names, widths, seeds, _ = coord_check.coord_settings(config, cli.given_values(_CONFIG))
    print(f"coordinate check: {', '.join(names)} at widths {widths}, {seeds} seeds, "
          f"steps {list(coord_check.STEPS)}\n  workdir: {workdir}"
          "\ndry run: nothing was trained or written")
    return
  coord_check.run_coord_check(config, workdir, given=cli.given_values(_CONFIG))


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
