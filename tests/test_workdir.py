"""A workdir (engine.persist.workdir): one sweep's records, moved aside by
--overwrite, one live writer, and file system errors in one line."""

import errno
import json
import os

import pytest

from lstm_init import ConfigError, records
from lstm_init.engine.persist.record import config_record
from lstm_init.engine.persist.workdir import Workdir
from lstm_init.engine.spec.plan import plan_sweep
from tests.helpers import tiny_config


def _record(**fields):
  cfg = tiny_config()
  for k, v in fields.items():
    cfg.train[k] = v
  return config_record(plan_sweep(cfg, []))


def test_another_configs_workdir_is_refused_naming_the_field_that_differs(tmp_path):
  wd = Workdir(str(tmp_path / "w"))
  wd.prepare(_record(), overwrite=False)
  wd.write_config(_record())
  wd.prepare(_record(), overwrite=False)  # the same config resumes
  with pytest.raises(ConfigError, match=r"holds results of a different config \(train."
                                        r"learning_rate: 0.01 there, 0.2 here\)"):
    wd.prepare(_record(learning_rate=0.2), overwrite=False)


def test_overwrite_moves_the_previous_records_aside_before_anything_is_written(tmp_path):
  wd = Workdir(str(tmp_path / "w"))
  wd.prepare(_record(), overwrite=False)
  wd.write_config(_record())
  wd.write_results([{"condition": "a"}], ["condition"], {"x": [1.0]}, {"n": 1})
  before = {n: open(wd.file(n), "rb").read() for n in ("config.json", "results.csv")}
  lines = []
  wd.prepare(_record(learning_rate=0.2), overwrite=True, log=lines.append)
  aside = [d for d in os.listdir(wd.path) if d.startswith("previous-")]
  assert len(aside) == 1 and "moved to" in lines[0]
  assert not wd.exists("results.csv") and not wd.exists("config.json")
  for name, data in before.items():
    assert open(os.path.join(wd.path, aside[0], name), "rb").read() == data


def test_a_damaged_config_record_is_one_line(tmp_path):
  wd = Workdir(str(tmp_path / "w"))
  os.makedirs(wd.path)
  open(wd.file("config.json"), "w").close()
  with pytest.raises(ConfigError, match=r"config.json is damaged .*pass --overwrite"):
    wd.prepare(_record(), overwrite=False)
  wd.prepare(_record(), overwrite=True, log=lambda s: None)  # moved aside
  assert not wd.exists("config.json")


def test_a_live_lock_is_refused_and_an_unreadable_one_is_taken_over(tmp_path):
  wd = Workdir(str(tmp_path / "w"))
  os.makedirs(wd.path)
  open(wd.file(".lock"), "w").close()  # left empty by a full disk
  lines = []
  with wd.locked(lines.append):
    assert json.load(open(wd.file(".lock")))["pid"] == os.getpid()
    with pytest.raises(ConfigError, match=r"is being written by process \d+ on this host"):
      with Workdir(wd.path).locked(lines.append):
        pass
  assert "cannot be read" in lines[0] and not wd.exists(".lock")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.ENAMETOOLONG])
def test_a_file_system_error_is_one_line_and_the_previous_file_stays(tmp_path, monkeypatch,
                                                                     code):
  wd = Workdir(str(tmp_path / "w"))
  os.makedirs(wd.path)
  wd.write_json("summary.json", {"n": 1})
  before = open(wd.file("summary.json"), "rb").read()

  def fail(path, data):
    raise OSError(code, os.strerror(code))

  monkeypatch.setattr(records, "atomic_write_bytes", fail)
  for write in (lambda: wd.write_json("summary.json", {"n": 2}),
                lambda: wd.save_checkpoint(b"x"),
                lambda: wd.write_partial([])):
    with pytest.raises(ConfigError, match=rf"cannot write .*: {os.strerror(code)} \(errno "
                                          rf"{code}\); the previous version of the file is "
                                          "intact"):
      write()
  assert open(wd.file("summary.json"), "rb").read() == before


def test_a_workdir_that_is_a_file_is_one_line(tmp_path):
  path = tmp_path / "f"
  path.write_text("x")
  with pytest.raises(ConfigError, match="is a file, not a folder"):
    Workdir(str(path)).prepare(_record(), overwrite=False)
