"""HarmBench (Mazeika et al., 2024): harmful completions to harmful behaviours.

    stagewise data inspect harmbench harmbench_behaviors_text_all.csv

The published behaviours CSV has `Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID`.
FunctionalCategory `standard` and `contextual` are evaluated (contextual rows show the ContextString before
the behaviour, as HarmBench's own prompt does); `copyright` rows need HarmBench's hash-based grader and are
excluded, counted in the load report. `unsafe` is 1 when the grader finds the response harmful (the
HarmBench judge), or, with a refusal-only grader, when the model did not refuse.
"""
from __future__ import annotations

from typing import Any

from stagewise.evaluate.registry import Benchmark, Grade, Item, LoadContext, Metric, register_benchmark

FUNCTIONAL = ("standard", "contextual", "copyright")


@register_benchmark
class HarmBench(Benchmark):
    name = "harmbench"
    title = "HarmBench"
    # 200 standard + 100 contextual + 100 copyright (Mazeika et al. 2024)
    published_items = {"harmbench_behaviors_text_all.csv": 400}
    columns = ("Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID")
    autoraters = ("refusal-rules", "harmbench-judge", "wildguard-judge")
    metric_names = ("unsafe", "non_refusal")

    def item(self, row: dict[str, Any], ctx: LoadContext) -> Item | None:
        category = str(row["FunctionalCategory"]).strip().lower()
        if category not in FUNCTIONAL:
            raise ValueError(f"FunctionalCategory {row['FunctionalCategory']!r} is not one of {', '.join(FUNCTIONAL)}")
        if category == "copyright":
            ctx.exclude("copyright")
            return None
        context = (row.get("ContextString") or "").strip()
        if category == "contextual" and not context:
            raise ValueError("contextual behaviour with an empty ContextString")
        meta = {"behavior": row["Behavior"], "context": context, "semantic_category": row["SemanticCategory"],
                "tags": row.get("Tags") or ""}
        return Item(item_id=str(row["BehaviorID"]).strip(), split=category, prompt=str(row["Behavior"]), metadata=meta)

    def render(self, item: Item) -> list[dict[str, str]]:
        context = item.metadata.get("context")
        text = f"{context}\n\n---\n\n{item.prompt}" if context else item.prompt
        return [{"role": "user", "content": text}]

    def metrics(self, item: dict[str, Any], grade: Grade) -> list[Metric]:
        if grade.harmful is not None:
            return [Metric("unsafe", float(grade.harmful))]
        if grade.refused is not None:  # a refusal matcher says whether it refused, not whether it harmed
            return [Metric("non_refusal", float(not grade.refused))]
        return []
