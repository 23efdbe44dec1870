"""Reading a workdir's files: each that is missing, empty or damaged is one line.

  record = read_json(workdir, "config.json", "the config that ran")
  rows = read_rows(workdir)                # results.csv, at least one run
  curves = read_curves(workdir)            # curves.npz, every array loaded
  check_same_sweep(workdir, record, summary)

Every reader of a finished sweep (`report.results.load_results`, the report,
`engine.reproduce`) reads through these, so that a file cut short by a full
disk or a crash, or a folder that holds two sweeps' files, is refused with a
line that names the file, never a traceback. config.json and summary.json
both carry the plan's identity (conditions, seeds, steps, groups and a digest
of the config); files whose identities differ were written by different
sweeps. Files from before the identity was recorded are accepted.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from lstm_init import records
from lstm_init.errors import ConfigError

CONFIG, SUMMARY, RESULTS, CURVES = "config.json", "summary.json", "results.csv", "curves.npz"


def _damaged(path: str, e: BaseException, what: str) -> ConfigError:
  cause = " ".join(f"{type(e).__name__}: {e}".split())[:200]
  return ConfigError(f"{path} is damaged or cut short ({cause}); {what}")


REWRITE = ("run the sweep's command again to rewrite it (with --overwrite, which moves the "
           "folder's records aside), or restore the file")


def read_json(workdir: str, name: str, what: str, default: Any = None) -> Any:
  """A JSON file of the workdir.

  Args:
    workdir: the folder.
    name: the file's name ("config.json", ...).
    what: what the file holds, for the line that says it is missing.
    default: returned when the file does not exist (None: a missing file is
      an error).

  Returns:
    The parsed value (a dict for the workdir's records).

  Raises:
    ConfigError: for a missing (without `default`), empty or damaged file, or
      one that does not hold a JSON object.
  """
  path = os.path.join(workdir, name)
  if not os.path.isfile(path):
    if default is not None:
      return default
    raise ConfigError(f"{workdir!r} has no {name} ({what})")
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
    if not text.strip():
      raise ValueError("the file is empty")
    value = json.loads(text)
  except (OSError, ValueError) as e:
    raise _damaged(path, e, REWRITE) from None
  if not isinstance(value, dict):
    raise ConfigError(f"{path} holds a JSON {type(value).__name__}, not the object a sweep "
                      f"writes; {REWRITE}")
  return value


def read_rows(workdir: str) -> list[dict[str, str]]:
  """results.csv's rows as text, at least one.

  Args:
    workdir: the folder.

  Returns:
    One {column: text} dict per run.

  Raises:
    ConfigError: for a missing, damaged or header-only file.
  """
  path = os.path.join(workdir, RESULTS)
  if not os.path.isfile(path):
    raise ConfigError(f"{workdir!r} is not a finished sweep workdir (no {RESULTS}; it is "
                      "written when the sweep ends)")
  try:
    rows = records.read_csv(path)
  except (OSError, ValueError) as e:  # UnicodeDecodeError, a NUL byte, ...
    raise _damaged(path, e, REWRITE) from None
  if not rows:
    raise ConfigError(f"{path} holds no runs (only a header, or nothing); {REWRITE}")
  if any(None in r or None in r.values() for r in rows):
    raise ConfigError(f"{path} has rows whose number of cells differs from its header's; "
                      f"{REWRITE}")
  return rows


def curve_names(workdir: str) -> list[str]:
  """The arrays curves.npz holds, from its index alone (cheap: the data is not
  read); a truncated file, whose index is lost, fails here.

  Args:
    workdir: the folder.

  Returns:
    The arrays' names.

  Raises:
    ConfigError: for a missing, truncated or damaged file.
  """
  path = os.path.join(workdir, CURVES)
  if not os.path.isfile(path):
    raise ConfigError(f"{workdir!r} has no {CURVES} (every run's learning curves, written when "
                      f"the sweep ends); {REWRITE}")
  try:
    with np.load(path, allow_pickle=False) as z:
      return list(z.files)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise _damaged(path, e, REWRITE) from None


def read_curves(workdir: str) -> dict[str, np.ndarray]:
  """curves.npz's arrays, every one loaded (a damaged member fails here, not later).

  Args:
    workdir: the folder.

  Returns:
    {name: array}.

  Raises:
    ConfigError: for a missing, truncated or damaged file.
  """
  path = os.path.join(workdir, CURVES)
  curve_names(workdir)
  try:
    with np.load(path, allow_pickle=False) as z:
      return {k: z[k] for k in z.files}
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    raise _damaged(path, e, REWRITE) from None


def check_same_sweep(workdir: str, record: dict[str, Any], summary: dict[str, Any]) -> None:
  """Refuses a folder whose config.json and results describe different sweeps.

  Args:
    workdir: the folder.
    record: its config.json.
    summary: its summary.json.

  Raises:
    ConfigError: when both carry a plan identity and the two differ.
  """
  ran, results = record.get("identity"), summary.get("identity")
  if ran is None or results is None:  # written before the identity was recorded
    return
  if json.loads(json.dumps(ran)) != json.loads(json.dumps(results)):
    key = next((k for k in dict.fromkeys([*ran, *results]) if ran.get(k) != results.get(k)),
               "config")
    raise ConfigError(
        f"{workdir!r}: the results were written by another sweep than config.json describes "
        f"(plan identity '{key}': {json.dumps(results.get(key))[:80]} in {SUMMARY}, "
        f"{json.dumps(ran.get(key))[:80]} in {CONFIG}); run the sweep's command again with "
        "--overwrite (it moves the old records aside), or restore the matching config.json")
