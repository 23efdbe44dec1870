"""Build report.md, report.html, table.tex and figures from sweep workdirs.

  python -m experiments.report runs/my_sweep
  python -m experiments.report runs/a runs/b --out=runs/compare
  python -m experiments.report runs/adding runs/copy runs/char_lm --aggregate --out=runs/all

This file only parses flags; the logic is in `lstm_init.report.document`.
"""

import os

from absl import app, flags

from lstm_init.engine import cli
from lstm_init.errors import ConfigError

_OUT = flags.DEFINE_string("out", None, "Output folder (default: the first workdir).")
_AGGREGATE = flags.DEFINE_bool("aggregate", False, "Rank the conditions the workdirs share "
                               "across them, one task per workdir (aggregate.md).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Read and check the workdirs, say what would be "
                             "written; write nothing.")


def _report(workdirs):
  from lstm_init.report import document as report
  if not workdirs:
    raise ConfigError("give at least one sweep workdir: python -m experiments.report <workdir>")
  if _DRY_RUN.value:
    from lstm_init.report.results import load_results
    for w in workdirs:
      if not os.path.exists(w):
        print(f"{w}: would be read (not written yet)")
        continue
      res = load_results(w)
      print(f"{w}: {len(res.conditions)} condition(s), {len(res.rows)} run(s)")
    what = "aggregate.md" if _AGGREGATE.value else "report.md, report.html, table.tex, figures/"
    print(f"would write {what} into {_OUT.value or workdirs[0]}; dry run: nothing was written")
    return
  if _AGGREGATE.value:
    from lstm_init.report import aggregate
    agg = aggregate.aggregate(workdirs)
    print("normalization: " + "; ".join(f"{t} {h}" for t, h in zip(agg.tasks, agg.normalization)))
    print(agg.table())
    print(f"wrote {aggregate.write_aggregate(agg, report.out_folder(_OUT.value or workdirs[0]))}")
    return
  paths = report.write_report(workdirs, _OUT.value)
  print(f"wrote {paths['report_md']}, {paths['report_html']} and {paths['table_tex']}")


def main(argv):
  cli.run_main(lambda: _report(argv[1:]))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
