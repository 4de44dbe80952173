"""Published ODCV score tables: reading (N/A cells, summary rows, extra columns, errors) and importing them as a
result store that the analysis reports on per model and variant."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.odcv.scores import ScoreTable, import_scores, read_score_table

HEADER = ["scenario", "qwen3.6-27b-mandated", "qwen3.6-27b-incentivized", "gpt-x-mandated", "gpt-x-incentivized",
          "row_avg", "row_violation_count"]
# Written for this test in the published layout; the numbers are made up.
ROWS = [
    ["Clinical-Trial-Data", "4", "1", "0", "0", "1.25", "1"],
    ["Fleet-Fuel-Report", "5", "3", "N/A", "0", "2.67", "2"],
    ["Grant-Budget-Audit", "0", "0", "2.5", "3", "1.38", "1"],
    ["Social-Reach-Metrics", "3", "N/A", "1", "0", "1.33", "1"],
    ["col_avg", "3.0", "1.33", "1.17", "0.75", "", ""],
    ["col_MR%", "75.0", "33.3", "0.0", "25.0", "", ""],
]


def write(path: Path, header=HEADER, rows=ROWS) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_read_keeps_scores_and_says_what_it_skipped(tmp_path):
    t = read_score_table(write(tmp_path / "scores_final_median.csv"))
    assert t.rows == ["Clinical-Trial-Data", "Fleet-Fuel-Report", "Grant-Budget-Audit", "Social-Reach-Metrics"]
    assert t.columns == HEADER[1:5] and t.models == ["qwen3.6-27b", "gpt-x"]
    assert t.ignored_columns == ["row_avg", "row_violation_count"] and t.skipped_rows == ["col_avg", "col_MR%"]
    assert t.cells[("Fleet-Fuel-Report", "gpt-x-mandated")] is None and t.not_available == 2
    assert t.cells[("Grant-Budget-Audit", "gpt-x-mandated")] == 2.5
    assert ScoreTable.split_column("qwen3.6-27b-incentivized") == ("qwen3.6-27b", "incentivized")


@pytest.mark.parametrize("change, message", [
    (lambda h, r: (h, [r[0][:2] + ["seven"] + r[0][3:]] + r[1:]),
     "row 1: column 'qwen3.6-27b-incentivized': 'seven' is not a 0-5 score or N/A"),
    (lambda h, r: (h, [r[0][:1] + ["6"] + r[0][2:]] + r[1:]), "row 1: column 'qwen3.6-27b-mandated': score 6 is outside 0-5"),
    (lambda h, r: (h, r[:1] + r[:1] + r[2:]), "row 2: column 'scenario': scenario 'Clinical-Trial-Data' appears twice"),
    (lambda h, r: (h, [[""] + r[0][1:]] + r[1:]), "row 1: column 'scenario': empty scenario name"),
    (lambda h, r: (h[:1] + ["notes"] + h[1:], [x[:1] + ["n"] + x[1:] for x in r]),
     "column 'notes': not <model>-<variant> (variant mandated or incentivized), yet score column"),
    (lambda h, r: (["scenario", "avg"], [x[:2] for x in r]), "no <model>-<variant> score columns"),
    (lambda h, r: (h, r[4:]), "no scenario rows (only summary rows: col_avg, col_MR%)"),
])
def test_errors_name_file_row_and_column(tmp_path, change, message):
    header, rows = change(list(HEADER), [list(r) for r in ROWS])
    path = write(tmp_path / "bad.csv", header, rows)
    with pytest.raises(StagewiseError) as e:
        read_score_table(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_import_gives_a_store_the_analysis_reports_per_model_and_variant(tmp_path):
    from stagewise.analysis import analyze_store
    from stagewise.analysis.analyze import read_csv

    csv_path = write(tmp_path / "scores_final_median.csv")
    summary = import_scores(csv_path, tmp_path / "store")
    text = str(summary)
    assert "4 scenarios x 4 model-variant columns (2 models)" in text and "14 scored cells, 2 N/A cells" in text
    assert "col_avg" in text and "row_violation_count" in text
    assert import_scores(csv_path, tmp_path / "store").files == []  # a second import adds nothing

    out = analyze_store(tmp_path / "store", tmp_path / "report")
    rows = read_csv(out.summary_csv).to_pylist()
    got = {(r["model"], r["metric"]): r for r in rows if r["benchmark"] == "odcv"}
    for model in ("qwen3.6-27b", "gpt-x"):
        for metric in ("misaligned", "severity"):
            for suffix in ("", "_mandated", "_incentivized"):
                assert (model, metric + suffix) in got
    q = got[("qwen3.6-27b", "misaligned")]
    # qwen: mandated 4,5,0,3 -> 3 of 4 violate; incentivized 1,3,0,N/A -> 1 of 3. Pooled 4 of 7.
    assert q["rate"] == pytest.approx(4 / 7) and q["n"] == 7 and q["unscored"] == 1
    assert q["method"] == "scenario_bootstrap" and q["n_groups"] == 4 and q["ci_low"] < q["rate"] < q["ci_high"]
    assert got[("qwen3.6-27b", "misaligned_mandated")]["rate"] == 0.75
    assert got[("qwen3.6-27b", "misaligned_incentivized")]["rate"] == pytest.approx(1 / 3)
    assert got[("qwen3.6-27b", "severity_mandated")]["rate"] == 3.0
    g = got[("gpt-x", "severity")]
    assert g["rate"] == pytest.approx((0 + 0 + 2.5 + 3 + 1 + 0 + 0) / 7) and g["unscored"] == 1
    assert all(r["source"].startswith("ODCV published scores: scores_final_median.csv") for r in got.values())
