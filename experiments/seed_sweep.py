"""Train many seeds of one or more conditions at once and report the spread.

  python -m experiments.seed_sweep                                  # default sweep
  python -m experiments.seed_sweep --config=configs/copy.py --config.num_seeds=64
  python -m experiments.seed_sweep --sweep=model.init.preset=keras,pytorch \
      --sweep=model.init.forget_bias=0,1 --workdir=runs/forget

On the CPU the seeds are sharded over one host device per core
(`--cpu_devices=1` turns that off; see `lstm_init.engine.devices`).

This file only parses flags, runs the sweep (`lstm_init.engine.sweep`) and then, with
`config.report` (default True), its report (`lstm_init.report.document`).
"""

import os

from absl import app, flags

from lstm_init.engine import cli, distributed, sweep
from lstm_init.report import document as report

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "default.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/<date>-<name>).")
_SWEEP = flags.DEFINE_multi_string(
    "sweep", [], "Condition axis <config path>=<v1>,<v2>,...; repeat for a product. "
    "Replaces the config's own default sweep. A field given with --config.<path>=v "
    "replaces the default sweep's axis over it.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "Replace a workdir that holds another config's results.")
cli.define_run_flags()


def _run():
  config = cli.config_value(_CONFIG)
  cli.start_run()
  result = sweep.run_sweep(config, _WORKDIR.value, _SWEEP.value, overwrite=_OVERWRITE.value,
                           given=cli.given_values(_CONFIG))
  if config.report and distributed.is_writer():
    paths = report.write_report([result.workdir])
    print(f"report: {paths['report_md']} (figures in "
          f"{os.path.join(result.workdir, 'figures')})")


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
