"""Petri seed folders, for `stagewise data inspect`: which seeds the converter would keep, and why not the rest.

    stagewise data inspect petri-seeds                         # the installed inspect-petri's default seeds
    stagewise data inspect petri-seeds path/to/petri/seeds     # any folder of seed files

Not an evaluation by itself (a seed is an instruction to a multi-turn auditor, not a prompt): kept seeds
become `dilemmas` items through `stagewise petri-convert` (evaluate/petri.py). Splits are each kept seed's
first dilemma tag; exclusions are counted by reason (untagged, no dilemma tag, excluded tag <t>). Without a
path the seeds come from the installed `inspect-petri` package (evaluate/petri.py `installed_seed_dir`).
"""
from __future__ import annotations

from typing import Any

from stagewise.evaluate.petri import Seed, installed_seed_dir, primary_tag, read_seeds, verdict
from stagewise.evaluate.registry import Benchmark, Grade, Item, LoadContext, Metric, register_benchmark


@register_benchmark
class PetriSeeds(Benchmark):
    name = "petri-seeds"
    title = "Petri seed"
    autoraters = ()  # nothing to grade: convert the seeds first
    metric_names = ()

    def read_rows(self, path_or_id: str | None) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        source = str(installed_seed_dir()) if path_or_id is None else path_or_id
        seeds = read_seeds(source)
        return source, [(n, {"seed": s}) for n, s in enumerate(seeds, start=1)]

    def provenance(self, path_or_id: str | None, source: str, rows: int, items: int,
                   excluded: dict[str, int]) -> dict[str, Any]:
        # The installed package's folder is a public file set, not an embedded lookalike: record it as files.
        return super().provenance(source, source, rows, items, excluded)

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
