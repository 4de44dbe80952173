"""Test stores for analysis/: graded rows written as dicts, and long tables built straight in memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stagewise.analysis.store import GradedValues


def _dictionary(codes: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, np.int32)), pa.array(labels, pa.string()))


def graded_values(model: np.ndarray, item: np.ndarray, value: np.ndarray, group: np.ndarray | None = None,
                  sample_idx: np.ndarray | None = None, models: list[str] | None = None,
                  benchmark: str = "bench", autorater: str = "rater", metric: str = "refusal_rate") -> GradedValues:
    """A GradedValues for one benchmark/autorater/metric from integer codes (no Parquet round trip)."""
    n = len(value)
    group = item if group is None else group
    models = models or [f"m{i}" for i in range(int(model.max()) + 1)]
    zeros = np.zeros(n, np.int32)
    values = pa.table({
        "model": _dictionary(model, models), "benchmark": _dictionary(zeros, [benchmark]),
        "autorater": _dictionary(zeros, [autorater]), "metric": _dictionary(zeros, [metric]),
        "item_id": _dictionary(item, [f"i{i}" for i in range(int(item.max()) + 1)]),
        "group": _dictionary(group, [f"g{i}" for i in range(int(group.max()) + 1)]),
        "sampling_hash": _dictionary(zeros, ["s0"]),
        "sample_idx": pa.array(np.zeros(n, np.int32) if sample_idx is None else sample_idx.astype(np.int32)),
        "value": pa.array(value.astype(np.float64)),
    })
    unscored = pa.schema([("model", pa.string()), ("benchmark", pa.string()), ("autorater", pa.string()),
                          ("metric", pa.string()), ("unscored", pa.int64())]).empty_table()
    return GradedValues(values=values, unscored=unscored, stages={m: m for m in models}, rows=n, source=Path("mem"))


def write_rows(results_dir: Path, rows: list[dict], name: str = "part-0.parquet") -> None:
    """Write graded rows given as dicts (defaults filled in) into the store's partitions."""
    import json
    from datetime import datetime, timezone

    import pyarrow.parquet as pq

    from stagewise.evaluate.schema import GRADED_SCHEMA, graded_key

    full = []
    for r in rows:
        prompt = [{"role": "user", "content": f"prompt {r['item_id']}"}]
        r = {"benchmark": "bench", "split": "test", "group": None, "messages": prompt,
             "metadata": "{}", "stage": r.get("model", "a"), "checkpoint": f"sha256:{r.get('model', 'a')}",
             "input_hash": f"in-{r['item_id']}", "sample_idx": 0, "sampling": json.dumps({}),
             "sampling_hash": "s0", "response": f"{r.get('model', 'a')} says {r['item_id']}", "finish_reason": "stop",
             "autorater": "rater", "autorater_version": "v1", "label": None, "score": None, "refused": None,
             "harmful": None, "metric_version": "m1", "unscored": False,
             "raw_judgement": "", "created_at": datetime(2025, 1, 1, tzinfo=timezone.utc), **r}
        r.setdefault("key", graded_key(r, r["autorater_version"], r["metric_version"]))
        r["metrics"] = [{"name": k, "value": v} for k, v in r["metrics"].items()]
        full.append(r)
    table = pa.Table.from_pylist(full, schema=GRADED_SCHEMA)
    for part in table.group_by(["model", "benchmark"]).aggregate([]).to_pylist():
        out = results_dir / "grades" / f"model={part['model']}" / f"benchmark={part['benchmark']}"
        out.mkdir(parents=True, exist_ok=True)
        mine = (pc.field("model") == part["model"]) & (pc.field("benchmark") == part["benchmark"])
        pq.write_table(table.filter(mine), out / name)
