"""Steps each run of a finished sweep took to bring its validation loss to a threshold.

  python -m experiments.steps_to_threshold --sweep_workdir=runs/chrono_adding \
      --threshold=0.01 --workdir=runs/chrono_adding_steps
  python -m experiments.steps_to_threshold --sweep_workdir=runs/x --reference=preset=keras

Writes steps_to_threshold.md and .json in --workdir (default: the sweep's own).
This file only parses flags; the logic is in `lstm_init.studies.steps_to_threshold`.
"""

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.errors import ConfigError
from lstm_init.studies import steps_to_threshold

_SWEEP = flags.DEFINE_string("sweep_workdir", None, "A finished sweep's workdir.")
_THRESHOLD = flags.DEFINE_float("threshold", 0.01, "The validation loss to reach.")
_REFERENCE = flags.DEFINE_string("reference", None,
                                 "The condition the ratios divide (default: the first).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (default: --sweep_workdir).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Check the flags, say what would be read and "
                             "written; write nothing.")


def _run():
  if not _SWEEP.value:
    raise ConfigError("--sweep_workdir is required: a finished sweep's workdir")
  if _DRY_RUN.value:
    print(f"would read {_SWEEP.value} and write steps_to_threshold.md and .json into "
          f"{_WORKDIR.value or _SWEEP.value} (threshold {_THRESHOLD.value}); dry run: nothing "
          "was written")
    return
  study = steps_to_threshold.run_steps_to_threshold(
      _SWEEP.value, _WORKDIR.value or _SWEEP.value, _THRESHOLD.value, _REFERENCE.value)
  print(steps_to_threshold.to_markdown(study), end="")


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
