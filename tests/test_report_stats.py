"""The report's statistics on hand-made workdirs: paired or not, clusters, one seed,
strict JSON, old files with NaN, the improvement matrix against its table."""

import json
import os

import numpy as np
import pytest

from lstm_init import records
from lstm_init.report import comparisons, document, merged, results, sections, tables
from lstm_init.report import summary as summary_lib

TASK = {"task": "hand-made", "metric": "r2", "baseline": 1.0, "baseline_note": "a constant",
        "first_k": 1, "lower_is_better": True, "score": "final validation loss",
        "step_unit": "training step", "steps_per_update": 1, "failure_line": None,
        "target": None}


def _strict(text):
  def refuse(constant):
    raise ValueError(f"not strict JSON: {constant}")
  return json.loads(text, parse_constant=refuse)


def _workdir(path, conditions, seed=0, old_nan=False):
  """A finished sweep's files for `conditions`: {name: (values, fields)} where fields
  are the condition's design, fixed_streams, ... (values: [runs] final losses)."""
  os.makedirs(path, exist_ok=True)
  rows, scored, record_conditions = [], [], []
  for name, (values, fields) in conditions.items():
    design = fields.get("design", "seeds")
    per = fields.get("per_base", 1)
    for i, v in enumerate(values):
      base = i // per if design == "instability" else i
      row = {"condition": name, "seed": i, "init_seed": base, "data_seed": base,
             "final_train_loss": v, "final_eval_loss": v, "final_eval_metric": 1 - v,
             "final_test_loss": v, "final_test_metric": 1 - v, "early_eval_loss": v,
             "late_eval_loss": float("nan"), "diverged": bool(np.isnan(v)),
             "diverged_step": -1}
      if design == "instability":
        row["perturbation"] = i % per
      rows.append(row)
    scored.append(summary_lib.ScoredCondition(name, {"fixed_streams": fields.get(
        "fixed_streams", "")}, design, TASK))
    record_conditions.append({"name": name, "overrides": {
        k: v for k, v in fields.items() if k in ("design", "fixed_streams")}})
  columns = results.RESULT_COLUMNS + (["perturbation"] if any("perturbation" in r for r in rows)
                                      else [])
  records.write_csv(os.path.join(path, "results.csv"), rows, columns)
  summary = summary_lib.summarize(scored, rows, seed)
  if old_nan:  # the files of older versions held bare NaN
    with open(os.path.join(path, "summary.json"), "w") as f:
      json.dump(summary, f, allow_nan=True)
  else:
    records.write_json(os.path.join(path, "summary.json"), summary)
  records.write_json(os.path.join(path, "config.json"), {
      "config": {"seed": seed, "design": "seeds", "fixed_streams": ""},
      "conditions": record_conditions})
  n_c, n_s = len(conditions), max(len(v) for v, _ in conditions.values())
  curves = {k: np.full((n_c, n_s, 2), np.nan) for k in ("eval_loss", "train_loss", "eval_metric")}
  for ci, (values, _) in enumerate(conditions.values()):
    curves["eval_loss"][ci, :len(values)] = np.asarray(values)[:, None]
  records.write_npz(os.path.join(path, "curves.npz"), **curves,
                    per_timestep_loss=np.full((n_c, n_s, 1), np.nan),
                    steps=np.tile([0, 10], (n_c, 1)), conditions=np.array(list(conditions)),
                    curve_rows=np.zeros(n_c, int))
  return path


def _shared(rng, n, effects):
  luck = rng.normal(1.0, 0.3, n)
  return [luck + e + rng.normal(0, 0.02, n) for e in effects]


def test_paired_where_streams_are_shared_unpaired_where_fixed_streams_differ(tmp_path):
  a, b, c = _shared(np.random.default_rng(0), 8, (0.0, 0.05, 0.05))
  wd = _workdir(str(tmp_path / "w"), {"A": (a, {}), "B": (b, {}),
                                      "C": (c, {"fixed_streams": "data"})})
  paths = document.write_report([wd])
  md = open(paths["report_md"]).read()
  m = merged.merge([results.load_results(wd)])
  cs = {(c.a, c.b): c for c in comparisons.compare_all(m)}
  ab, ac = cs[("A", "B")], cs[("A", "C")]
  assert ab.paired and not ac.paired and ac.reason == "different fixed streams (none vs data)"
  # the pairing sees a 0.05 shift under 0.3 of shared luck; the unpaired test cannot
  assert ab.result["t_p"] < 1e-4 and ac.result["t_p"] > 0.1
  assert ab.result["p_improvement"] == 1.0
  head, rows = tables.pairwise_table(m, list(cs.values()))
  row = dict(zip(head, rows[0]))
  assert row["seeds compared"] == "paired, 8 seeds"
  assert rows[1][2] == "unpaired (different fixed streams (none vs data)), 8 seeds | 8 seeds"
  assert "Paired rows: seed i of A and seed i of B draw the same random streams" in md
  assert "Unpaired rows (different fixed streams (none vs data))" in md
  assert "Welch's t-test and rank test p Mann-Whitney U" in md
  assert "overlap heavily are not distinguished" not in md


def test_the_figure_and_the_table_read_one_bootstrap_and_mirrored_cells_are_complements():
  rng = np.random.default_rng(1)
  vals = [rng.normal(1, 0.3, 12) + s for s in (0.0, 0.1, 0.3)]
  m = _merged_of(vals)
  cs = comparisons.compare_all(m)
  mat, lo, hi = comparisons.improvement_matrix(cs, 3)
  head, rows = tables.pairwise_table(m, cs)
  for c, row in zip(cs, rows):
    assert mat[c.i, c.j] + mat[c.j, c.i] == 1.0
    assert (lo[c.j, c.i], hi[c.j, c.i]) == (1 - hi[c.i, c.j], 1 - lo[c.i, c.j])
    cell = dict(zip(head, row))["P(A better than B) [95% CI]"]
    assert cell == f"{mat[c.i, c.j]:.2f} [{lo[c.i, c.j]:.2f}, {hi[c.i, c.j]:.2f}]"
  again = comparisons.compare_all(m)  # one seed, one count of resamples: the same numbers
  assert [c.result for c in again] == [c.result for c in cs]
  assert comparisons.N_RESAMPLES == 5000


def _merged_of(vals, record=None):
  """A Merged of independent conditions read from a hand-made workdir's records."""
  import tempfile
  with tempfile.TemporaryDirectory() as d:
    wd = _workdir(d, {f"c{i}": (v, {"fixed_streams": f"{'data' if i else ''}"})
                      for i, v in enumerate(vals)})
    return merged.merge([results.load_results(wd)])


def _sections(wd, *builders):
  """The Markdown of some of the report's sections (figures written into `wd`)."""
  m = merged.merge([results.load_results(wd)])
  blocks = [b for build in builders
            for b in (build(m) if build is sections.summary else build(m, wd))]
  return document.render(blocks, wd)[0]


def test_one_seed_says_n_a_and_why(tmp_path):
  wd = _workdir(str(tmp_path / "w"), {"A": ([0.5], {}), "B": ([0.7], {})})
  summary = _strict(open(os.path.join(wd, "summary.json")).read())
  s = summary["conditions"]["A"]
  assert s["std"] is None and s["ci95_low"] is None and s["iqm_ci95_high"] is None
  line = summary_lib.summary_table(summary)
  assert "n/a: a spread, an interval or a test needs at least 2 seeds" in line
  assert "A (1), B (1) had fewer" in line and "nan" not in line
  md = _sections(wd, sections.summary, sections.pairwise)
  wilson = 1.96 ** 2 / (1 + 1.96 ** 2)  # the Wilson interval's upper end for 0 of 1
  assert f"| A | 1 | 0 [0.00, {wilson:.2f}] | 0.5 [n/a] | 0.5 | 0.5 [n/a] | n/a |" in md
  assert "| A | B | paired, 1 seed | n/a | n/a | n/a | n/a | n/a | n/a |" in md
  assert "bootstrap resamples" not in md
  assert "intervals and tests need at least 2 seeds" in md


def test_an_instability_condition_is_reported_by_its_base_seeds(tmp_path):
  rng = np.random.default_rng(2)
  base = rng.normal(1, 0.3, 4)
  inst = np.repeat(base, 4) + rng.normal(0, 0.01, 16)
  plain = rng.normal(1, 0.3, 16)
  wd = _workdir(str(tmp_path / "w"), {"I": (inst, {"design": "instability", "per_base": 4}),
                                      "S": (plain, {})})
  md = _sections(wd, sections.summary, sections.best_of_k, sections.pairwise)
  assert "| I | 16 (4 base seeds; effective n " in md
  assert "I: k stops at 4, the independent seeds among its 16 runs" in md
  assert "unpaired (different designs (instability vs seeds)), 4 base seeds | 16 seeds" in md
  assert "Rows with base seeds" in md
  m = merged.merge([results.load_results(wd)])
  c = comparisons.compare_all(m)[0]
  means = inst.reshape(4, 4).mean(axis=1)
  from scipy import stats as sps
  assert c.result["t_p"] == pytest.approx(sps.ttest_ind(means, plain, equal_var=False).pvalue)


def test_summary_json_is_strict_and_old_files_with_nan_still_read(tmp_path):
  vals = {"A": ([0.5, 0.6, np.nan], {}), "B": ([0.4, 0.45, 0.5], {})}
  new = _workdir(str(tmp_path / "new"), vals)
  old = _workdir(str(tmp_path / "old"), vals, old_nan=True)
  text = open(os.path.join(new, "summary.json")).read()
  assert _strict(text)["conditions"]["A"]["late_median"] is None
  with pytest.raises(ValueError, match="not strict JSON: NaN"):
    _strict(open(os.path.join(old, "summary.json")).read())
  a, b = results.load_results(new), results.load_results(old)
  sa, sb = a.condition_summary("A"), b.condition_summary("A")
  assert np.isnan(sa.late_median) and np.isnan(sb.late_median)
  assert records.strict(sa.to_dict()) == records.strict(sb.to_dict())
  assert a.summary["late_median"].dtype == np.float64
  assert document.write_report([old])["report_md"]


def test_every_record_writer_is_strict(tmp_path):
  value = {"nan": float("nan"), "inf": -np.inf, "np": np.float32("nan"), "ok": np.float64(1.5),
           "arr": np.array([1.0, np.nan]), "nested": [{"t": (np.inf, 2)}], "i": np.int64(3),
           "b": np.bool_(True)}
  records.write_json(str(tmp_path / "x.json"), value)
  records.append_jsonl(str(tmp_path / "x.jsonl"), value)
  for name in ("x.json", "x.jsonl"):
    got = _strict(open(tmp_path / name).read())
    assert got == {"nan": None, "inf": None, "np": None, "ok": 1.5, "arr": [1.0, None],
                   "nested": [{"t": [None, 2]}], "i": 3, "b": True}


def test_the_reading_guide_points_to_the_pairwise_test():
  assert "Schenker and Gentleman" in sections.READING_GUIDE
  assert "paired where" in sections.READING_GUIDE
