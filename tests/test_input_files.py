"""Data files as researchers write them: encodings, delimiters, float32's range,
`.npy` columns, constant series, and non-UTF-8 text for the character LM."""

import ml_collections
import numpy as np
import pytest

from lstm_init import ConfigError
from lstm_init.training.tasks.char_lm import encode, make_char_lm
from lstm_init.training.tasks.forecast import load_series, make_forecast

VALUES = np.round(np.sin(np.arange(300) / 7.0) * 3 + 10, 4)


def forecast_cfg(path, **kw):
  cfg = ml_collections.ConfigDict({
      "series": "file", "series_length": 4000, "series_seed": 0, "path": str(path),
      "column": 0, "missing": "refuse", "target": "last", "stream": False,
      "split": "0.7,0.15,0.15", "window": 8, "windows_per_sequence": 10, "overlap": 0.0,
      "eval_rows": 16})
  cfg.update(kw)
  return cfg


def one_line(call, *needles):
  with pytest.raises(ConfigError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message, message
  for needle in needles:
    assert needle in message, (needle, message)
  return message


def write(path, lines, encoding="utf-8"):
  path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
  return str(path)


def test_a_plain_comma_file_reads_as_before_with_no_note(tmp_path):
  path = write(tmp_path / "s.csv", ["t,value"] + [f"{i},{v}" for i, v in enumerate(VALUES)])
  series, note = load_series(path, column=1)
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))
  assert note == ""


def test_latin1_is_read_with_a_note_and_a_utf8_byte_order_mark_is_skipped(tmp_path):
  lines = ["température;débit"] + [f"{i};{v}" for i, v in enumerate(VALUES)]
  path = write(tmp_path / "latin.csv", lines, "latin-1")
  series, note = load_series(path, column=1)
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))
  assert "read as Latin-1" in note and "byte 0xe9" in note and "semicolon-separated" in note
  # a spreadsheet's "CSV UTF-8": BOM, no header; the first value is data, not a header
  bom = tmp_path / "bom.csv"
  bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(str(v) for v in VALUES).encode())
  series, note = load_series(str(bom))
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))
  assert note == ""


def test_semicolon_and_tab_files_are_read_not_reported_missing(tmp_path):
  semi = write(tmp_path / "semi.csv", ["t;value"] + [f"{i};{v}" for i, v in enumerate(VALUES)])
  series, note = load_series(semi, column=1)  # once read as 300 missing values
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))
  assert note == "; semicolon-separated"
  tab = write(tmp_path / "tab.csv", [f"{i}\t{v}" for i, v in enumerate(VALUES)])
  series, note = load_series(tab, column=1)
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))
  assert note == "; tab-separated"
  # decimal commas, as European spreadsheets write a semicolon-separated file
  euro = write(tmp_path / "euro.csv", ["Zeit;Wert"] + [f"{i};{str(v).replace('.', ',')}"
                                                       for i, v in enumerate(VALUES)])
  series, _ = load_series(euro, column=1)
  np.testing.assert_array_equal(series, VALUES.astype(np.float32))


def test_an_ambiguous_delimiter_or_a_binary_file_is_refused(tmp_path):
  lines = [f"a,b;c{i}" for i in range(30)]  # no numbers either way: nothing tells them apart
  path = write(tmp_path / "odd.csv", lines)
  one_line(lambda: load_series(path), "the delimiter is ambiguous", "comma (',')",
           "semicolon (';')", "valid: one delimiter of comma, semicolon or tab")
  utf16 = write(tmp_path / "u16.csv", [str(v) for v in VALUES], "utf-16")
  one_line(lambda: load_series(utf16), "holds NUL bytes: a binary or UTF-16 file")
  semi = write(tmp_path / "semi.csv", [f"{i};{v}" for i, v in enumerate(VALUES)])
  one_line(lambda: load_series(semi, column=2), "task.column 2 is not a column", "semicolon",
           "valid: 0 to 1")


@pytest.mark.parametrize("big,shown", [("1e39", "1e+39"), ("1e308", "1e+308"),
                                       ("-4e38", "-4e+38")])
def test_values_beyond_float32_are_refused_naming_the_line(tmp_path, big, shown):
  lines = ["value"] + [str(v) for v in VALUES]
  lines[41] = big  # file line 42
  path = write(tmp_path / "big.csv", lines)
  for missing in ("refuse", "drop", "interpolate"):
    one_line(lambda: load_series(path, missing=missing),
             f"line 42: {shown} is beyond float32's range", "valid: finite values of magnitude "
             "at most 3.40282e+38")
  arr = VALUES.copy()
  arr[7] = float(big)
  np.save(tmp_path / "big.npy", arr)
  one_line(lambda: load_series(str(tmp_path / "big.npy")), "position 7:")
  # float32's largest value itself is kept; inf stays a missing value, refused by default
  lines[41] = "3.4e38"
  assert load_series(write(tmp_path / "edge.csv", lines))[0][40] == np.float32(3.4e38)
  lines[41] = "inf"
  one_line(lambda: load_series(write(tmp_path / "inf.csv", lines)), "1 missing value(s)",
           "(lines 42)")


def test_npy_files_honour_the_column_or_refuse_it(tmp_path):
  two = np.stack([np.arange(300.0), VALUES], axis=1)  # [steps, columns]
  np.save(tmp_path / "two.npy", two)
  path = str(tmp_path / "two.npy")
  np.testing.assert_array_equal(load_series(path, column=1)[0], VALUES.astype(np.float32))
  np.testing.assert_array_equal(load_series(path, column=0)[0], np.arange(300.0))
  one_line(lambda: load_series(path, column=2), "task.column 2 is not a column",
           "shape (300, 2)", "valid: 0 to 1")
  np.save(tmp_path / "one.npy", VALUES)
  np.testing.assert_array_equal(load_series(str(tmp_path / "one.npy"))[0],
                                VALUES.astype(np.float32))
  one_line(lambda: load_series(str(tmp_path / "one.npy"), column=1),
           "task.column 1 is not a column", "a 1-D array of 300 values", "valid: 0")
  np.save(tmp_path / "three.npy", np.zeros((10, 3, 2)))
  one_line(lambda: load_series(str(tmp_path / "three.npy")), "shape (10, 3, 2)",
           "valid: 1-D [steps] or 2-D [steps, columns]")


def test_objects_fakes_and_other_dtypes_in_npy_files_are_one_line(tmp_path):
  np.save(tmp_path / "obj.npy", np.array([1.0, "a", None], dtype=object), allow_pickle=True)
  one_line(lambda: load_series(str(tmp_path / "obj.npy")), "is not a numeric .npy array",
           "Python objects", "valid: a 1-D or 2-D array of numbers written by numpy.save")
  (tmp_path / "fake.npy").write_text("1,2,3\n4,5,6\n")
  one_line(lambda: load_series(str(tmp_path / "fake.npy")), "is not a numeric .npy array")
  (tmp_path / "empty.npy").write_bytes(b"")
  one_line(lambda: load_series(str(tmp_path / "empty.npy")), "is not a numeric .npy array")
  np.save(tmp_path / "text.npy", np.array(["1.5", "2.5"] * 10))
  one_line(lambda: load_series(str(tmp_path / "text.npy")), "dtype <U3",
           "valid: integers or floats")
  with open(tmp_path / "zipped.npy", "wb") as f:
    np.savez(f, a=VALUES)
  one_line(lambda: load_series(str(tmp_path / "zipped.npy")), "is an .npz archive")


def test_a_constant_series_is_refused_before_r2_becomes_minus_inf(tmp_path):
  flat = write(tmp_path / "flat.csv", ["3.25"] * 200)
  one_line(lambda: make_forecast(forecast_cfg(flat), None),
           f"task.path {flat!r} is constant (every value 3.25)", "valid: a series that varies")
  # constant where the statistics come from: the training part
  head = write(tmp_path / "head.csv", ["1.0"] * 140 + [str(v) for v in VALUES[:60]])
  one_line(lambda: make_forecast(forecast_cfg(head), None),
           "the training part of", "is constant, so it cannot be standardized")
  # validation targets all at the training mean: r2's baseline would be 0
  centred = write(tmp_path / "centred.csv", ["0", "2"] * 35 + ["1"] * 30)
  one_line(lambda: make_forecast(forecast_cfg(centred), None),
           "validation targets", "all equal the training mean, so r2 has no baseline (0)")
  # a varying series still builds, with the baseline of standardized targets
  ok = write(tmp_path / "ok.csv", [str(v) for v in VALUES])
  task = make_forecast(forecast_cfg(ok), None)
  assert 0 < task.baseline < 10 and task.description.endswith("shuffled windows")


def char_cfg(path):
  return ml_collections.ConfigDict({"path": str(path), "max_chars": 200_000, "window": 10,
                                    "windows_per_sequence": 2, "overlap": 0.0,
                                    "eval_rows": 4})


def test_char_lm_reads_latin1_text_with_a_note_and_refuses_binary(tmp_path):
  text = "Les élèves étudient la mémoire à long terme. " * 40
  (tmp_path / "latin.txt").write_bytes(text.encode("latin-1"))
  task = make_char_lm(char_cfg(tmp_path / "latin.txt"), None)
  assert "read as Latin-1" in task.description and "byte 0xe9" in task.description
  ids = encode(text)  # every Latin-1 byte is one character: the ids of the text itself
  np.testing.assert_array_equal(np.asarray(task.data["train"]), ids[:int(0.9 * len(ids))])
  (tmp_path / "utf8.txt").write_bytes(text.encode("utf-8"))
  same = make_char_lm(char_cfg(tmp_path / "utf8.txt"), None)
  assert "Latin-1" not in same.description
  np.testing.assert_array_equal(np.asarray(same.data["train"]), np.asarray(task.data["train"]))
  (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 10)
  one_line(lambda: make_char_lm(char_cfg(tmp_path / "blob.bin"), None), "holds NUL bytes",
           "valid: a text file in UTF-8 (or Latin-1)")
