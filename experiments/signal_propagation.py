"""Signal propagation at initialization for every preset, and whether it predicts training.

  python -m experiments.signal_propagation --workdir=runs/signal
  python -m experiments.signal_propagation --config.signal.presets=keras,pytorch,chrono \
      --config.task.length=500
  python -m experiments.signal_propagation --sweep_workdir=runs/adding --workdir=runs/signal_adding

With --sweep_workdir the config is the sweep's own (same task, sizes, seeds and
init keys) and the presets are the sweep's; each seed's diagnostics are joined
with its final loss and the rank correlations reported.

This file only parses flags; the logic is in `lstm_init.signal_study`.
"""

import os
import time

from absl import app, flags

from lstm_init import cli, signal_study
from lstm_init.errors import ConfigError

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "signal.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/<date>-signal).")
_SWEEP = flags.DEFINE_string("sweep_workdir", None,
                             "A finished seed sweep of the same presets to join with.")


def _run():
  config = cli.config_value(_CONFIG)
  sweep_dir = _SWEEP.value
  if sweep_dir:
    if not os.path.isfile(os.path.join(sweep_dir, "results.csv")):
      raise ConfigError(f"{sweep_dir!r} is not a finished sweep workdir (no results.csv)")
    swept = signal_study.config_from_workdir(sweep_dir)
    presets = swept.get("sweep", ())
    names = [p.split("=", 1)[1] for p in presets if p.startswith("model.init.preset=")]
    swept.signal = config.signal
    if names:
      swept.signal.presets = names[0]
    config = swept
  workdir = _WORKDIR.value or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-signal")
  signal_study.run_signal(config, workdir, sweep_workdir=sweep_dir)


def main(argv):
  del argv
  cli.log_devices()
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
