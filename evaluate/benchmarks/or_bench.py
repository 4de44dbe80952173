"""OR-Bench (Cui et al., 2024): over-refusal on seemingly toxic but benign prompts, at scale.

    stagewise data inspect or-bench or-bench-hard-1k.csv

The published CSVs (`or-bench-80k.csv`, `or-bench-hard-1k.csv`, `or-bench-toxic.csv`) have `prompt,category`.
Which file it is tells benign from toxic (the columns do not): a file whose name contains "toxic" is the
toxic contrast set (`non_refusal`: answered, not refused), any other is benign (`over_refusal`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stagewise.evaluate.registry import Benchmark, Grade, Item, LoadContext, LoadReport, Metric, register_benchmark


@register_benchmark
class ORBench(Benchmark):
    name = "or-bench"
    title = "OR-Bench"
    # OR-Bench-Hard-1K, the over-refusal split papers report, and its toxic contrast set (Cui et al. 2024)
    published_items = {"or-bench-hard-1k.csv": 1_319, "or-bench-toxic.csv": 655}
    columns = ("prompt", "category")
    autoraters = ("refusal-rules", "xstest-judge", "wildguard-judge")
    metric_names = ("over_refusal", "non_refusal")

    def read(self, path_or_id: str | None, limit: int | None = None) -> LoadReport:
        self._split = "toxic" if path_or_id and "toxic" in Path(path_or_id).name.lower() else "benign"
        return super().read(path_or_id, limit)

    def item(self, row: dict[str, Any], ctx: LoadContext) -> Item:
        prompt = str(row["prompt"])
        return Item(item_id=ctx.content_id(prompt), split=self._split, prompt=prompt,
                    metadata={"category": row["category"]})

    def metrics(self, item: dict[str, Any], grade: Grade) -> list[Metric]:
        if grade.refused is None:
            return []
        if item["split"] == "benign":
            return [Metric("over_refusal", float(grade.refused))]
        return [Metric("non_refusal", float(not grade.refused))]  # toxic prompts: answered (not refused)
