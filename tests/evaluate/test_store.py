"""The result store: partitioned layout, atomic files, crash leftovers swept, corrupt files moved aside."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.dataset as ds

from stagewise.evaluate.schema import GRADED_SCHEMA, generation_key, graded_key, sampling_hash
from stagewise.evaluate.store import ResultStore

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def graded(model, bench, item, version="refusal-rules@abc"):
    h = sampling_hash({"temperature": 0.0})
    return {
        "benchmark": bench, "item_id": item, "split": "safe", "group": item,
        "messages": [{"role": "user", "content": "hi"}], "metadata": "{}",
        "model": model, "checkpoint": f"sha256:{model}", "input_hash": "in-hi", "stage": "sft", "sample_idx": 0, "sampling": '{"temperature": 0.0}', "sampling_hash": h,
        "response": "Sorry.", "finish_reason": "stop", "autorater": "refusal-rules", "autorater_version": version,
        "label": "full_refusal", "score": None, "refused": True, "harmful": None, "metric_version": "m1",
        "unscored": False, "raw_judgement": "full_refusal",
        "metrics": [{"name": "over_refusal", "value": 1.0}],
        "created_at": NOW,
    } | {"key": graded_key({"model": model, "checkpoint": f"sha256:{model}", "benchmark": bench, "item_id": item,
                            "input_hash": "in-hi", "sample_idx": 0, "sampling_hash": h}, version, "m1")}


def test_partitioned_write_read_and_keys(tmp_path):
    store = ResultStore(tmp_path)
    rows = [graded("sft", "xstest", "a"), graded("sft", "harmbench", "b"), graded("base", "xstest", "c")]
    written = store.write("grades", pa.Table.from_pylist(rows, schema=GRADED_SCHEMA))
    assert sorted(p.relative_to(tmp_path / "grades").parts[:2] for p in written) == [
        ("model=base", "benchmark=xstest"), ("model=sft", "benchmark=harmbench"), ("model=sft", "benchmark=xstest")]
    assert store.keys("grades") == {r["key"] for r in rows}
    assert store.keys("grades", "sft", "xstest") == {rows[0]["key"]}
    # What analysis/ reads: a hive-partitioned dataset of the graded schema.
    t = ds.dataset(tmp_path / "grades", format="parquet", partitioning="hive").to_table()
    assert t.num_rows == 3 and set(GRADED_SCHEMA.names) <= set(t.column_names)
    gens = store.write("generations", pa.Table.from_pylist(rows, schema=GRADED_SCHEMA))
    assert len(gens) == 3
    assert store.keys("generations") == {generation_key(r) for r in rows}


def test_leftovers_are_swept_and_corrupt_files_moved_aside(tmp_path):
    store = ResultStore(tmp_path)
    [good] = store.write("grades", pa.Table.from_pylist([graded("sft", "xstest", "a")], schema=GRADED_SCHEMA))
    folder = good.parent
    (folder / ".tmp-part-dead.parquet").write_bytes(b"PAR1 half a file")  # killed mid-write
    truncated = folder / "part-truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:40])  # e.g. a disk that lost the tail
    reopened = ResultStore(tmp_path)
    assert not (folder / ".tmp-part-dead.parquet").exists()
    assert not truncated.exists() and (folder / ".corrupt-part-truncated.parquet").exists()
    assert reopened.files("grades") == [good]
    assert reopened.keys("grades") == {graded("sft", "xstest", "a")["key"]}
    assert ds.dataset(tmp_path / "grades", format="parquet", partitioning="hive").count_rows() == 1
