"""`stagewise data inspect`: a benchmark file through the pipeline's own loader (needs no study).

    stagewise data inspect xstest path/to/xstest_prompts.csv           # check a file before spending compute
    stagewise data inspect harmbench                                   # the embedded set
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError


def inspect_command(
    benchmark: str = typer.Argument(..., help="A registered benchmark, e.g. xstest, harmbench."),
    path_or_id: Optional[str] = typer.Argument(None, help="Local file (CSV/JSONL/Parquet) or hub dataset id; none: the embedded set."),
    limit: Optional[int] = typer.Option(None, min=1, help="Read only the first N items."),
) -> None:
    """Load a benchmark file with the pipeline's own loader: item count per split, exclusions, one item."""
    from stagewise.evaluate.registry import get_benchmark

    report = get_benchmark(benchmark).read(path_or_id, limit)
    splits = Counter(i["split"] for i in report.items)
    typer.echo(f"{benchmark}: {len(report.items)} items from {report.source}")
    for split, n in sorted(splits.items()):
        typer.echo(f"  split {split}: {n}")
    for reason, n in sorted(report.excluded.items()):
        typer.echo(f"  excluded ({reason}): {n}")
    first = dict(report.items[0], metadata=json.loads(report.items[0]["metadata"]))
    typer.echo("first item:\n" + json.dumps(first, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    # Another package may already own a `data` group: add to it rather than shadow it.
    group = next((g.typer_instance for g in app.registered_groups if g.name == "data"), None)
    if group is None:
        group = typer.Typer(help="Benchmark and training data files.", no_args_is_help=True)
        app.add_typer(group, name="data")
    group.command("inspect")(inspect_command)
