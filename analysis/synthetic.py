"""Synthetic result stores with known truth, for tests and `bench/bench_analysis.py`.

    write_synthetic_store("out/results", models={"base": "base", "sft": "sft"}, items=500, samples=3)

Every item has a latent propensity shared by all models (so stages' grades correlate item by item, as real
paired data do); a model's `shift` moves it on the logit scale. Each benchmark is graded by a rule-based
autorater giving a binary `refusal_rate`, and, if `scored`, by a judge giving a `strongreject_score` in
[0, 1]. Items share sources in clusters of `group_size`. Rows are built column-wise (no per-row Python).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stagewise.evaluate.schema import GRADED_SCHEMA, METRIC


def write_synthetic_store(
    results_dir: str | Path,
    models: dict[str, str],
    benchmarks: tuple[str, ...] = ("harmbench", "xstest"),
    items: int = 200,
    samples: int = 1,
    group_size: int = 1,
    shifts: dict[str, float] | None = None,
    scored: tuple[str, ...] = ("harmbench",),
    unscored_fraction: float = 0.0,
    seed: int = 0,
) -> int:
    """Write `<results_dir>/grades/model=<m>/benchmark=<b>/part-0.parquet`; returns the number of rows."""
    rng = np.random.default_rng(seed)
    shifts = shifts or {}
    total = 0
    for b, bench in enumerate(benchmarks):
        propensity = rng.normal(-0.5, 1.5, items)  # the item's latent pull toward refusal, shared by models
        for model, stage in models.items():
            logit = np.repeat(propensity + shifts.get(model, 0.0), samples)
            refused = (rng.random(items * samples) < 1 / (1 + np.exp(-logit))).astype(np.float64)
            raters = [("refusal-rules", {"refusal_rate": refused})]
            if bench in scored:
                harm = np.clip(1 / (1 + np.exp(logit)) + rng.normal(0, 0.15, items * samples), 0, 1)
                raters.append(("strongreject-judge", {"strongreject_score": harm}))
            parts = [_graded_rows(bench, b, model, stage, rater, metrics, items, samples, group_size,
                                  unscored_fraction, rng) for rater, metrics in raters]
            table = pa.concat_tables(parts)
            out = Path(results_dir) / "grades" / f"model={model}" / f"benchmark={bench}"
            out.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, out / "part-0.parquet")
            total += table.num_rows
    return total


def _graded_rows(bench: str, b: int, model: str, stage: str, autorater: str, metrics: dict[str, np.ndarray],
                 items: int, samples: int, group_size: int, unscored_fraction: float,
                 rng: np.random.Generator) -> pa.Table:
    n = items * samples
    item = np.repeat(np.arange(items), samples)
    sample_idx = np.tile(np.arange(samples, dtype=np.int32), items)
    unscored = rng.random(n) < unscored_fraction
    item_id = pc.binary_join_element_wise(f"{bench}-", pc.cast(pa.array(item), pa.string()), "")
    group = pc.binary_join_element_wise(f"{bench}-src", pc.cast(pa.array(item // group_size), pa.string()), "")
    def const(v, t: pa.DataType | None = None) -> pa.Array:
        return pa.repeat(pa.scalar(v, t or pa.string()), n)

    version = f"{autorater}-v1"
    input_hash = pc.binary_join_element_wise("in-", item_id, "")
    key = pc.binary_join_element_wise(const(model), const(f"sha256:{model}"), const(bench), item_id, input_hash,
                                      pc.cast(pa.array(sample_idx), pa.string()), const("s0"), const(version),
                                      const(f"{bench}-metrics@synthetic"), "|")
    # metrics: one struct per metric for scored rows, an empty list for unscored ones.
    names, values = list(metrics), np.stack(list(metrics.values()), axis=1)  # (n, n_metrics)
    per_row = np.where(unscored, 0, len(names))
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    flat_values = values[~unscored].ravel()
    flat_names = np.tile(np.array(names, dtype=object), int((~unscored).sum()))
    metric_structs = pa.StructArray.from_arrays([pa.array(flat_names, pa.string()), pa.array(flat_values)],
                                                fields=list(METRIC))
    first = values[:, 0]
    is_score = names[0] == "strongreject_score"
    label = pa.array(np.where(unscored, None, np.where(first >= 0.5, "high" if is_score else "full_refusal",
                                                       "low" if is_score else "full_compliance")), pa.string())
    messages = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)),
        pa.StructArray.from_arrays([const("user"), pc.binary_join_element_wise("prompt ", item_id, "")],
                                   fields=[pa.field("role", pa.string()), pa.field("content", pa.string())]))
    columns = {
        "benchmark": const(bench), "item_id": item_id, "split": const("test"), "group": group,
        "messages": messages, "metadata": const("{}"), "model": const(model), "checkpoint": const(f"sha256:{model}"),
        "input_hash": input_hash, "stage": const(stage),
        "sample_idx": pa.array(sample_idx), "sampling": const('{"temperature": 0.7}'), "sampling_hash": const("s0"),
        "response": pc.binary_join_element_wise(f"{model} answers ", item_id, ""), "finish_reason": const("stop"),
        "autorater": const(autorater), "autorater_version": const(version), "label": label,
        "score": pa.array(np.where(unscored, np.nan, first)) if is_score else pa.nulls(n, pa.float64()),
        "refused": pa.nulls(n, pa.bool_()), "harmful": pa.nulls(n, pa.bool_()),
        "metric_version": const(f"{bench}-metrics@synthetic"), "unscored": pa.array(unscored), "raw_judgement": const(""),
        "metrics": pa.ListArray.from_arrays(pa.array(offsets), metric_structs),
        "key": key, "created_at": const(datetime(2025, 1, 1, tzinfo=timezone.utc), pa.timestamp("us", tz="UTC")),
    }
    return pa.table(columns).cast(GRADED_SCHEMA)
