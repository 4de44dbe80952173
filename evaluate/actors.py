"""The two Ray Data actor stages: policy (the model under test answers) and grader (autoraters judge).

Rows travel as Arrow batches in `FLIGHT_SCHEMA` (a generation plus what is still to grade) into the policy
stage, and leave the grader stage as `GRADED_SCHEMA` rows plus the generation's own timestamp. Both
actors hold a `serve.client.ServeClient` (batched, concurrent requests to the Serve app, retried through
replica restarts), so each holds little CPU.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections import defaultdict
from typing import Any

import pyarrow as pa

from stagewise.evaluate.registry import Grade, get_autorater, get_benchmark
from stagewise.evaluate.schema import GENERATION_SCHEMA, GRADED_SCHEMA, graded_key
from stagewise.serve.client import ServeClient

log = logging.getLogger(__name__)

TS = pa.timestamp("us", tz="UTC")
# A generation (response may still be empty) + which autoraters still have to grade it + whether it is new.
FLIGHT_SCHEMA = pa.schema(
    list(GENERATION_SCHEMA) + [("todo", pa.list_(pa.string())), ("new_generation", pa.bool_())]
)
GRADER_OUT_SCHEMA = pa.schema(list(GRADED_SCHEMA) + [("new_generation", pa.bool_()), ("generated_at", TS)])


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class PolicyActor:
    """Answers each row's conversation with the row's model; one request per `client.batch_size` rows.

    `__call__` is async, so Ray Data runs several batches at once in each actor (its async-UDF concurrency)
    on one event loop and one pooled HTTP client: the engine gets the next batch's prompts while the slowest
    answers of the last are still decoding, instead of idling between batches.
    """

    def __init__(self, client: ServeClient):
        self.client = client

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        groups: dict[tuple[str, int, str], list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            groups[(r["model"], r["sample_idx"], r["sampling"])].append(i)

        async def answer(model: str, sample_idx: int, sampling_json: str, idx: list[int]) -> None:
            sampling = json.loads(sampling_json)
            # Sample i of an item is drawn with seed + i: reproducible, and distinct across samples.
            if sampling.get("seed") is not None:
                sampling["seed"] = sampling["seed"] + sample_idx
            outs = await self.client.chat_many(model, [rows[i]["messages"] for i in idx], sampling)
            stamp = now()
            for i, out in zip(idx, outs):
                rows[i].update(response=out.text, finish_reason=out.finish_reason, created_at=stamp, new_generation=True)

        await asyncio.gather(*(answer(*key, idx) for key, idx in groups.items()))
        return pa.Table.from_pylist(rows, schema=FLIGHT_SCHEMA)


class GraderActor:
    """Grades each row with the autoraters named in its `todo`; stores the grade's facts and the metrics the
    benchmark derives from them (`Benchmark.metrics_of`)."""

    def __init__(self, autoraters: dict[str, dict[str, Any]], client: ServeClient | None):
        self.autoraters = {name: get_autorater(name, **kw) for name, kw in autoraters.items()}
        self.client = client  # for LLM judges; None when every autorater is rule-based
        self.benchmarks: dict[str, Any] = {}

    def benchmark(self, name: str):
        if name not in self.benchmarks:
            self.benchmarks[name] = get_benchmark(name)
        return self.benchmarks[name]

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        by_rater: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            for name in r["todo"]:
                by_rater[name].append(i)
        out = []
        for name, idx in by_rater.items():
            rater = self.autoraters[name]
            failed = [i for i in idx if rows[i]["finish_reason"].startswith("error")]
            good = [i for i in idx if i not in set(failed)]
            grades = dict(zip(good, rater.grade([rows[i] for i in good], self.client) if good else []))
            for i in failed:  # the policy never answered: nothing to grade, never a pass or a fail
                grades[i] = Grade.unparseable(f"generation failed: {rows[i]['finish_reason']}")
            for i in idx:
                out.append(self.graded_row(rows[i], rater, grades[i]))
        return pa.Table.from_pylist(out, schema=GRADER_OUT_SCHEMA)

    def graded_row(self, row: dict[str, Any], rater, grade: Grade) -> dict[str, Any]:
        bench = self.benchmark(row["benchmark"])
        metrics = bench.metrics_of(row, grade)
        version = rater.version
        graded = {k: row[k] for k in GENERATION_SCHEMA.names if k != "created_at"}
        graded.update(
            autorater=rater.name,
            autorater_version=version,
            label=grade.label,
            score=grade.score,
            refused=grade.refused,
            harmful=grade.harmful,
            metric_version=bench.metric_version,
            unscored=grade.unscored,
            raw_judgement=grade.raw,
            metrics=[{"name": m.name, "value": float(m.value)} for m in metrics],
            key=graded_key(row, version, bench.metric_version),
            created_at=now(),
            new_generation=row["new_generation"],
            generated_at=row["created_at"],
        )
        return graded
