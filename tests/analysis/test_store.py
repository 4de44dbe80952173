"""Reading the store: clear one-line errors on malformed stores, metric identity, unscored attribution."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.store import load_graded_values
from stagewise.analysis.summary import compute_statistics
from stagewise.core.errors import StagewiseError
from tests.analysis.stores import write_rows


def _one_file(results):
    return sorted((results / "grades").rglob("*.parquet"))[0]


def test_missing_and_empty_stores_say_so(tmp_path):
    with pytest.raises(StagewiseError, match="no graded results"):
        load_graded_values(tmp_path / "results")
    (tmp_path / "results" / "grades").mkdir(parents=True)
    with pytest.raises(StagewiseError, match="empty store"):
        load_graded_values(tmp_path / "results")


def test_a_store_of_zero_rows_is_empty(tmp_path, small_store):
    path = _one_file(small_store)
    pq.write_table(pq.read_table(path).slice(0, 0), path)
    for other in (small_store / "grades").rglob("*.parquet"):
        if other != path:
            other.unlink()
    with pytest.raises(StagewiseError, match="no graded rows"):
        load_graded_values(small_store)


def test_missing_column_names_the_file(small_store):
    path = _one_file(small_store)
    pq.write_table(pq.read_table(path).drop_columns(["metrics"]), path)
    with pytest.raises(StagewiseError, match=r"part-0\.parquet: missing column 'metrics'"):
        load_graded_values(small_store)


def test_not_parquet_is_a_clear_error(small_store):
    _one_file(small_store).write_text("not parquet")
    with pytest.raises(StagewiseError, match="not a readable Parquet"):
        load_graded_values(small_store)


def test_duplicate_key_is_a_corrupted_store(small_store):
    path = _one_file(small_store)
    shutil.copy(path, path.with_name("part-1.parquet"))
    with pytest.raises(StagewiseError, match=r"part-0\.parquet, .*part-1\.parquet: graded row .* appears more than once"):
        load_graded_values(small_store)


def test_metric_listed_twice_in_a_row(tmp_path):
    write_rows(tmp_path, [{"model": "a", "item_id": "x", "metrics": {"r": 1.0}}])
    path = _one_file(tmp_path)
    t = pq.read_table(path)
    twice = pa.array([[{"name": "r", "value": 1.0}, {"name": "r", "value": 0.0}]], t.schema.field("metrics").type)
    pq.write_table(t.set_column(t.schema.get_field_index("metrics"), "metrics", twice), path)
    with pytest.raises(StagewiseError, match=r"metric 'r' is listed twice in graded row a\|sha256:a\|bench\|x\|in-x\|0"):
        load_graded_values(tmp_path)


def test_model_with_two_stages(tmp_path):
    write_rows(tmp_path, [{"model": "a", "item_id": "x", "stage": "sft", "metrics": {"r": 1.0}},
                          {"model": "a", "item_id": "y", "stage": "dpo", "metrics": {"r": 1.0}}])
    with pytest.raises(StagewiseError, match="model 'a' has two stages"):
        load_graded_values(tmp_path)


def test_item_in_two_groups(tmp_path):
    write_rows(tmp_path, [{"model": "a", "item_id": "x", "group": "g1", "metrics": {"r": 1.0}},
                          {"model": "b", "item_id": "x", "group": "g2", "metrics": {"r": 1.0}}])
    with pytest.raises(StagewiseError, match="item 'x' of benchmark 'bench' is in more than one group"):
        load_graded_values(tmp_path)


def test_null_metric_value(tmp_path):
    write_rows(tmp_path, [{"model": "a", "item_id": "x", "metrics": {"r": None}}])
    with pytest.raises(StagewiseError, match="metrics.value is null"):
        load_graded_values(tmp_path)


def test_two_autoraters_of_one_metric_are_never_mixed(tmp_path):
    rows = [{"model": m, "item_id": f"i{i}", "autorater": rater, "autorater_version": f"{rater}-v1",
             "metrics": {"refusal_rate": float((i + k) % 2)}}
            for m in ("a", "b") for i in range(10) for k, rater in enumerate(("rules", "judge"))]
    write_rows(tmp_path, rows)
    stats = compute_statistics(load_graded_values(tmp_path), AnalysisConfig(), ["a", "b"], [("a", "b")])
    assert sorted(set(stats.summary["metric"].to_pylist())) == ["refusal_rate[judge]", "refusal_rate[rules]"]
    by = {(r["model"], r["metric"]): r for r in stats.summary.to_pylist()}
    assert by[("a", "refusal_rate[rules]")]["rate"] == 0.5 and by[("a", "refusal_rate[judge]")]["n"] == 10
    assert len(stats.comparisons) == 2


def test_superseded_autorater_version_is_dropped_with_a_note(tmp_path):
    old = [{"model": "a", "item_id": f"i{i}", "metrics": {"r": 0.0}} for i in range(8)]
    new = [{"model": "a", "item_id": f"i{i}", "metrics": {"r": 1.0}, "autorater_version": "v2",
            "created_at": datetime(2025, 2, 1, tzinfo=timezone.utc)} for i in range(6)]
    write_rows(tmp_path, old)
    write_rows(tmp_path, new, name="part-1.parquet")
    graded = load_graded_values(tmp_path)
    assert graded.rows == 6 and len(graded.notes) == 1 and "v1" in graded.notes[0] and "v2" in graded.notes[0]
    row = compute_statistics(graded, AnalysisConfig(), ["a"], []).summary.to_pylist()[0]
    assert (row["rate"], row["n"]) == (1.0, 6)


def test_unscored_rows_count_against_their_items_metrics(tmp_path):
    # XSTest-like: safe items carry over_refusal, unsafe items carry unsafe_compliance.
    rows = [{"model": m, "item_id": f"safe{i}", "metrics": {"over_refusal": 0.0}} for m in "ab" for i in range(5)]
    rows += [{"model": m, "item_id": f"unsafe{i}", "metrics": {"unsafe_compliance": 1.0}} for m in "ab" for i in range(5)]
    rows += [{"model": "c", "item_id": "safe0", "unscored": True, "metrics": {}},
             {"model": "c", "item_id": "nowhere", "unscored": True, "metrics": {}},
             {"model": "a", "item_id": "unsafe4", "sample_idx": 1, "unscored": True, "metrics": {}}]
    write_rows(tmp_path, rows)
    graded = load_graded_values(tmp_path)
    counts = {(r["model"], r["metric"]): r["unscored"] for r in graded.unscored.to_pylist()}
    assert counts == {("c", "over_refusal"): 2, ("c", "unsafe_compliance"): 1, ("a", "unsafe_compliance"): 1}
    summary = compute_statistics(graded, AnalysisConfig(), ["a", "b", "c"], []).summary.to_pylist()
    c = [r for r in summary if r["model"] == "c"]
    assert {r["metric"]: (r["n"], r["unscored"], r["method"]) for r in c} == {
        "over_refusal": (0, 2, "none"), "unsafe_compliance": (0, 1, "none")}


def test_synthetic_store_round_trip(small_store):
    graded = load_graded_values(small_store)
    assert graded.stages == {"base": "base", "prod": "production", "sft": "sft"}
    files = (small_store / "grades").rglob("*.parquet")
    unscored_rows = sum(pq.read_table(p)["unscored"].to_pylist().count(True) for p in files)
    assert sum(graded.unscored["unscored"].to_pylist()) == unscored_rows  # one metric per autorater here
