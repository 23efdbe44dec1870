"""Is the best seed real? Select the best seed on validation, check it on test and
on retraining with new data orders.

  python -m experiments.best_seed --workdir=runs/best_seed
  python -m experiments.best_seed --config=configs/best_seed.py --config.num_seeds=64

This file only parses flags; the logic is in `lstm_init.studies.best_seed`.
"""

import os

from absl import app, flags

from lstm_init.engine import cli, sweep
from lstm_init.engine.spec.plan import apply_scale, plan_sweep
from lstm_init.studies import best_seed

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "best_seed.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/best_seed-<digest "
                               "of what runs>, the same for the same command, so that it "
                               "resumes).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace earlier results in the workdir.")
cli.define_run_flags()
for _name in cli.RUN_FLAGS + ("workdir", "overwrite"):  # listed by --help
  flags.declare_key_flag(_name)


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  given = cli.given_values(_CONFIG)
  workdir = _WORKDIR.value
  if flags.FLAGS.dry_run or not workdir:  # the study's own checks come first otherwise
    plan = plan_sweep(apply_scale(config, given), [], given)
    workdir = workdir or sweep.default_workdir(plan, "best_seed")
  if flags.FLAGS.dry_run:
    print(sweep.describe_dry_run(plan, workdir).replace(
        "dry run:", f"then {config.retrain_data_seeds} retrains of the best seed; dry run:"))
    return
  best_seed.run_best_seed(config, workdir, overwrite=_OVERWRITE.value,
                          given=cli.given_values(_CONFIG))


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
