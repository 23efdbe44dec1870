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
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.studies import width

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "width_transfer.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None,
                               "Output folder (default: runs/<date>-width_transfer).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace earlier results in the workdir.")
cli.define_run_flags()
for _name in cli.RUN_FLAGS + ("workdir", "overwrite"):  # listed by --help
  flags.declare_key_flag(_name)


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  workdir = _WORKDIR.value or os.path.join("runs",
                                           time.strftime("%Y%m%d-%H%M%S") + "-width_transfer")
  if flags.FLAGS.dry_run:
    _, lrs, sweeps, own = width.study_sweeps(config, workdir, cli.given_values(_CONFIG))
    plans = [plan_sweep(cfg, [width.lr_axis(lrs)], own) for _, _, cfg, _ in sweeps]
    print(f"width study: {len(sweeps)} sweeps (condition x width), each "
          f"{len(lrs)} learning rates x {plans[0].runs() // len(lrs)} seeds; "
          f"{sum(p.runs() for p in plans):,} runs, "
          f"{sum(p.seed_steps() for p in plans):,} seed-steps\n  workdir: {workdir}"
          "\ndry run: nothing was trained or written")
    return
  width.run_width_transfer(config, workdir, overwrite=_OVERWRITE.value,
                           given=cli.given_values(_CONFIG))


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
