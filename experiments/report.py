"""Build report.md, report.html, table.tex and figures from sweep workdirs.

  python -m experiments.report runs/my_sweep
  python -m experiments.report runs/a runs/b --out=runs/compare

This file only parses flags; the logic is in `lstm_init.report.document`.
"""

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.errors import ConfigError

_OUT = flags.DEFINE_string("out", None, "Output folder (default: the first workdir).")


def _report(workdirs):
  from lstm_init.report import document as report
  if not workdirs:
    raise ConfigError("give at least one sweep workdir: python -m experiments.report <workdir>")
  paths = report.write_report(workdirs, _OUT.value)
  print(f"wrote {paths['report_md']}, {paths['report_html']} and {paths['table_tex']}")


def main(argv):
  cli.run_main(lambda: _report(argv[1:]))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
