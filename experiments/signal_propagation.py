"""Signal propagation at initialization for every preset, and whether it predicts training.

  python -m experiments.signal_propagation --workdir=runs/signal
  python -m experiments.signal_propagation --config.signal.presets=keras,pytorch,chrono \
      --config.task.length=500
  python -m experiments.signal_propagation --sweep_workdir=runs/adding --workdir=runs/signal_adding

With --sweep_workdir the config is the sweep's own (same task, sizes, seeds and
init keys) and the presets are the sweep's; each seed's diagnostics are joined
with its final loss and the rank correlations reported.

This file only parses flags; the logic is in `lstm_init.studies.signal`.
"""

import os
import time

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.engine.spec.schema import check_config
from lstm_init.studies import signal as signal_study
from lstm_init.errors import ConfigError

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "configs", "signal.py")
_CONFIG = cli.define_config(os.path.normpath(_DEFAULT))
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: runs/<date>-signal).")
_SWEEP = flags.DEFINE_string("sweep_workdir", None,
                             "A finished seed sweep of the same presets to join with.")
cli.define_run_flags()
for _name in cli.RUN_FLAGS + ("workdir", "sweep_workdir"):  # listed by --help
  flags.declare_key_flag(_name)


def _run():
  config = cli.config_value(_CONFIG)
  given = cli.given_values(_CONFIG)
  sweep_dir = _SWEEP.value
  if flags.FLAGS.dry_run and sweep_dir and not os.path.exists(sweep_dir):
    print(f"would join the sweep {sweep_dir} (not written yet); dry run: nothing was computed "
          "or written")
    return
  if sweep_dir:
    other = sorted(p for p in given if not p.startswith("signal."))
    if other:
      raise ConfigError(f"--config.{other[0]} cannot be given with --sweep_workdir: the sweep's "
                        "own config is used; valid overrides there: --config.signal.<field>")
    swept = signal_study.config_from_workdir(sweep_dir)
    axes = [a.split("=", 1)[1] for a in swept.sweep if a.startswith("model.init.preset=")]
    ran = axes[0].split(",") if axes else [swept.model.init.preset]
    if "signal.presets" in given:
      asked = signal_study.preset_list(config.signal.presets)
      missing = [p for p in asked if p not in ran]
      if missing:
        raise ConfigError(f"preset {missing[0]!r} is not in the sweep {sweep_dir!r}; valid "
                          f"choices: {', '.join(ran)}")
      ran = asked
    swept.signal = config.signal
    swept.signal.presets = ",".join(ran)
    config = swept
  elif "model.init.preset" in given:
    if "signal.presets" in given:
      raise ConfigError("model.init.preset and signal.presets are both given; the study "
                        "diagnoses signal.presets: give --config.signal.presets=<p1>,<p2>")
    print(f"model.init.preset={config.model.init.preset} given: the default list of presets "
          "(signal.presets) is replaced")
    config.signal.presets = config.model.init.preset
  cli.start_run()
  workdir = _WORKDIR.value or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S") + "-signal")
  if flags.FLAGS.dry_run:
    check_config(config)
    presets = signal_study.preset_list(config.signal.presets)
    print(f"signal propagation of {len(presets)} preset(s) ({', '.join(presets)}) into "
          f"{workdir}; dry run: nothing was computed or written")
    return
  signal_study.run_signal(config, workdir, sweep_workdir=sweep_dir)


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
