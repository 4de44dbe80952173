"""Graded rows store what the autorater established; metrics are derived from those facts.

    refreshed = refresh_metrics(ResultStore("runs/demo/results"))   # {"xstest": 450}: rows re-derived

Each graded row keeps the grade's facts (label, score, refused, harmful, unscored) and the `metric_version` of
the definitions that derived its `metrics` (part of its key). When a benchmark's `metrics` (or the degenerate
rules) change, the stored rows of the old version are re-derived here from their facts, re-keyed, and their
files rewritten in place (each atomically): no generation, no grading. `stagewise eval` calls it before it
plans (so the new keys are found) and `stagewise analyze` before the analysis, so rates always follow today's
definitions.
"""
from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.parquet as pq

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.registry import Grade, get_benchmark
from stagewise.evaluate.schema import GRADED_SCHEMA, GRADES, graded_key
from stagewise.evaluate.store import ResultStore

log = logging.getLogger(__name__)


def refresh_metrics(store: ResultStore) -> dict[str, int]:
    """Re-derive the metrics of every stored graded row whose `metric_version` is not today's; benchmark ->
    rows re-derived."""
    refreshed: dict[str, int] = {}
    current: dict[str, str] = {}
    for path in store.files(GRADES):
        benchmark = path.parent.name.removeprefix("benchmark=")
        if benchmark not in current:
            try:
                current[benchmark] = get_benchmark(benchmark).metric_version
            except StagewiseError:  # a benchmark this install does not know: its rows keep their metrics
                current[benchmark] = ""
        versions = pq.read_table(path, columns=["metric_version"]).column("metric_version").to_pylist()
        if not current[benchmark] or all(v == current[benchmark] for v in versions):
            continue
        bench = get_benchmark(benchmark)
        rows = pq.read_table(path).to_pylist()
        for r in rows:
            r["metrics"] = [{"name": m.name, "value": float(m.value)} for m in bench.metrics_of(r, Grade.from_row(r))]
            r["metric_version"] = bench.metric_version
            r["key"] = graded_key(r, r["autorater_version"], r["metric_version"])
        store.rewrite(path, pa.Table.from_pylist(rows, schema=GRADED_SCHEMA))
        refreshed[benchmark] = refreshed.get(benchmark, 0) + len(rows)
    for benchmark, n in refreshed.items():
        log.info("eval: re-derived the metrics of %d %s rows with today's definitions", n, benchmark)
    return refreshed
