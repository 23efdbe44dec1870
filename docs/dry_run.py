"""Every documented command, run with --dry_run: a renamed flag, config or path fails.

  python -m docs.dry_run experiments.seed_sweep   # its documented commands, one process
  python -m docs.dry_run                          # every entry point, one process each

Each command of README.md and docs/**/*.md (`docs.commands`) runs through its
entry point's own flag parsing and `main` with `--dry_run` appended, its
`runs/...` folders moved under a scratch folder. The commands of one entry
point share one process (absl's flags are parsed again for each), so a
command costs its planning, not a Python and JAX start-up. A dry run plans
and checks everything a command's flags name and writes nothing; a command
that reads a folder an earlier documented command writes says so instead of
reading it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import subprocess
import sys
import tempfile

from absl import flags

from docs import commands as doc_commands

ROOT = doc_commands.ROOT


def relocated(argv, scratch: str) -> list[str]:
  """`argv` with every `runs/...` path under `scratch`."""
  return [re.sub(r"(^|=)runs/", rf"\g<1>{scratch}/runs/", a) for a in argv]


def commands_of(module: str) -> list[doc_commands.Command]:
  """The distinct documented commands of one entry point, in order."""
  seen, out = set(), []
  for cmd in doc_commands.documented_commands():
    if cmd.module == module and (cmd.argv, cmd.env) not in seen:
      seen.add((cmd.argv, cmd.env))
      out.append(cmd)
  return out


def run_module(module: str) -> list[tuple[str, int, str]]:
  """Runs the documented commands of `module` with --dry_run, in this process.

  Returns:
    (where, exit status, the last lines of its output) per command.
  """
  from lstm_init.engine import cli  # pylint: disable=g-import-not-at-top
  os.chdir(ROOT)
  entry = importlib.import_module(module)
  out = []
  with tempfile.TemporaryDirectory(prefix="dry-run-") as scratch:
    for cmd in commands_of(module):
      argv = [module, *relocated(cmd.argv[2:], scratch), "--dry_run"]
      if hasattr(entry, "_DEFAULT") and not any(a.startswith("--config=") for a in argv):
        # Its overrides are defined when --config is parsed: name the default one.
        argv.insert(1, f"--config={os.path.normpath(getattr(entry, '_DEFAULT'))}")
      env = {k: v for k, v in cmd.env if k != "LSTM_INIT_COORDINATOR"}  # joins no other process
      old = {k: os.environ.get(k) for k in env}
      os.environ.update(env)
      text, code = io.StringIO(), 0
      try:
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
          flags.FLAGS.unparse_flags()
          for name in [n for n in flags.FLAGS if n.startswith("config.")]:
            delattr(flags.FLAGS, name)  # a --config.<field> override is defined per parse
          sys.argv = argv  # ml_collections reads the --config.<field> overrides from it
          rest = cli.parse_flags(argv)
          entry.main(rest)
      except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
      finally:
        for k, v in old.items():
          if v is None:
            os.environ.pop(k, None)
          else:
            os.environ[k] = v
      out.append((cmd.where, code, "\n".join(text.getvalue().strip().splitlines()[-3:])))
  return out


def main(argv) -> int:
  if len(argv) > 1:
    results = run_module(argv[1])
    for where, code, tail in results:
      print(f"{'ok' if code == 0 else 'FAIL'} {where} (exit {code})"
            + ("" if code == 0 else f": {tail}"))
    return 1 if any(code for _, code, _ in results) else 0
  modules = sorted({c.module for c in doc_commands.documented_commands()})
  status = 0
  for m in modules:
    status |= subprocess.run([sys.executable, "-m", "docs.dry_run", m], cwd=ROOT).returncode
  return status


if __name__ == "__main__":
  sys.exit(main(sys.argv))
