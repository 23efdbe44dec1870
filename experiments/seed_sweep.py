"""Train many seeds of one or more conditions at once and report the spread.

  python -m experiments.seed_sweep                                  # default sweep
  python -m experiments.seed_sweep --config=configs/copy.py --config.num_seeds=64
  python -m experiments.seed_sweep --sweep=model.init.preset=keras,pytorch \\
      --sweep=model.init.forget_bias=0,1 --workdir=runs/forget
  python -m experiments.seed_sweep --dry_run          # plan and check, write nothing

Without --workdir the results go to runs/<name>-<digest of what runs>: the
same command writes the same folder, so after an interruption it resumes and
after it finished it says so. On the CPU the seeds are sharded over one host
device per core (`--cpu_devices=1` turns that off; see
`lstm_init.engine.runtime.devices`).

This file only parses flags, runs the sweep (`lstm_init.engine.sweep`) and then, with
`config.report` (default True), its report (`lstm_init.report.document`).
"""

import os

from absl import app, flags

from lstm_init.engine import cli, sweep
from lstm_init.engine.runtime import processes
from lstm_init.engine.spec.plan import plan_sweep
from lstm_init.report import document as report

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "default.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: "
                               "runs/<name>-<digest of what runs>, the same for the same "
                               "command, so that it resumes).")
_SWEEP = flags.DEFINE_multi_string(
    "sweep", [], "Condition axis <config path>=<v1>,<v2>,...; repeat for a product. "
    "Replaces the config's own default sweep. A field given with --config.<path>=v "
    "replaces the default sweep's axis over it.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Move aside the records of another sweep "
                               "in --workdir (into previous-<time>/) and train afresh.")
cli.define_run_flags()
for _name in cli.RUN_FLAGS:  # listed by --help, not only by --helpfull
  flags.declare_key_flag(_name)


def _run():
  config = cli.config_value(_CONFIG)
  given = cli.given_values(_CONFIG)
  cli.start_run()
  plan = plan_sweep(config, _SWEEP.value, given)
  workdir = _WORKDIR.value or sweep.default_workdir(plan)
  if flags.FLAGS.dry_run:
    print(sweep.describe_dry_run(plan, workdir))
    return
  result = sweep.run_sweep(config, workdir, _SWEEP.value, plan=plan, overwrite=_OVERWRITE.value,
                           given=given)
  if config.report and processes.is_writer():
    paths = report.write_report([result.workdir])
    print(f"report: {paths['report_md']} (figures in "
          f"{os.path.join(result.workdir, 'figures')})")
  print(f"workdir: {result.workdir}")


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
