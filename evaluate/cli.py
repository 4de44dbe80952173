"""`stagewise data inspect` and `stagewise data leakage`: benchmark files through the pipeline's own loader
(they need no study).

    stagewise data inspect xstest path/to/xstest_prompts.csv           # check a file before spending compute
    stagewise data inspect harmbench                                   # the embedded set
    stagewise data leakage harmbench --train data/demo/sft.jsonl --train data/demo/dpo.jsonl
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.leakage import FLAG_WORDS


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


def leakage_command(
    benchmark: str = typer.Argument(..., help="A registered benchmark, e.g. xstest, harmbench."),
    path_or_id: Optional[str] = typer.Argument(None, help="Its file or hub dataset id; none: the embedded set."),
    train: list[str] = typer.Option(..., "--train", help="A training file (JSONL/Parquet/CSV/.txt); repeat for several."),
    flag_words: int = typer.Option(FLAG_WORDS, min=1, help="Report items sharing a run of at least this many words."),
    top: int = typer.Option(10, min=0, help="How many of the most-overlapping items to print."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per item instead of the summary."),
) -> None:
    """The longest run of words each benchmark item shares with the training data (leakage beyond exact text)."""
    import statistics

    from stagewise.evaluate.leakage import ANCHOR, TrainingIndex, item_text, training_texts
    from stagewise.evaluate.registry import get_benchmark

    report = get_benchmark(benchmark).read(path_or_id)
    texts = training_texts(train)
    index = TrainingIndex(texts)
    found = [(item, index.longest_shared(item_text(item))) for item in report.items]
    if as_json:
        for item, run in found:
            typer.echo(json.dumps({"benchmark": benchmark, "item_id": item["item_id"], "shared_words": run.words,
                                   "shared_text": run.text}, ensure_ascii=False))
        return
    lengths = [run.words for _, run in found]
    flagged = [(item, run) for item, run in found if run.words >= flag_words]
    typer.echo(f"{benchmark}: {len(found)} items from {report.source} vs {len(texts):,} training texts "
               f"({index.size:,} words) from {', '.join(train)}")
    typer.echo(f"  longest shared run of words per item (runs under {ANCHOR} words count as 0): "
               f"median {statistics.median(lengths):g}, max {max(lengths)}")
    typer.echo(f"  items sharing >= {flag_words} words: {len(flagged)}")
    for item, run in sorted(found, key=lambda f: -f[1].words)[:top]:
        if run.words:
            typer.echo(f"  {run.words:>3} words  {item['item_id']}: \"{run.text}\"")


def register(app: typer.Typer) -> None:
    # Another package may already own a `data` group: add to it rather than shadow it.
    group = next((g.typer_instance for g in app.registered_groups if g.name == "data"), None)
    if group is None:
        group = typer.Typer(help="Benchmark and training data files.", no_args_is_help=True)
        app.add_typer(group, name="data")
    group.command("inspect")(inspect_command)
    group.command("leakage")(leakage_command)
