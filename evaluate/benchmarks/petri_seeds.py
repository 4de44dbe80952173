"""Petri seed folders, for `stagewise data inspect`: which seeds the converter would keep, and why not the rest.

    stagewise data inspect petri-seeds path/to/petri/seeds

Not an evaluation by itself (a seed is an instruction to a multi-turn auditor, not a prompt): kept seeds
become `dilemmas` items through `stagewise petri-convert` (evaluate/petri.py). Splits are each kept seed's
first dilemma tag; exclusions are counted by reason (untagged, no dilemma tag, excluded tag <t>).
"""
from __future__ import annotations

from typing import Any

from stagewise.evaluate.petri import Seed, primary_tag, read_seeds, verdict
from stagewise.evaluate.registry import Benchmark, Grade, Item, LoadContext, Metric, register_benchmark
from stagewise.core.errors import StagewiseError


@register_benchmark
class PetriSeeds(Benchmark):
    name = "petri-seeds"
    title = "Petri seed"
    autoraters = ()  # nothing to grade: convert the seeds first
    metric_names = ()

    def read_rows(self, path_or_id: str | None) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        if path_or_id is None:
            raise StagewiseError("petri-seeds: give the folder of Petri seed files (no embedded set)")
        seeds = read_seeds(path_or_id)
        return path_or_id, [(n, {"seed": s}) for n, s in enumerate(seeds, start=1)]

    def item(self, row: dict[str, Any], ctx: LoadContext) -> Item | None:
        seed: Seed = row["seed"]
        v = verdict(seed)
        if not v.keep:
            ctx.exclude(v.reason)
            return None
        return Item(item_id=seed.id, split=primary_tag(seed), prompt=seed.body,
                    metadata={"tags": list(seed.tags), "file": seed.file})

    def metrics(self, item: dict[str, Any], grade: Grade) -> list[Metric]:
        return []
