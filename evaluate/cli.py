"""`stagewise data inspect` and `stagewise data leakage`: benchmark files through the pipeline's own loader
(they need no study).

    stagewise data inspect xstest path/to/xstest_prompts.csv           # check a file before spending compute
    stagewise data inspect harmbench                                   # the embedded set
    stagewise data leakage harmbench --train data/demo/sft.jsonl --train data/demo/dpo.jsonl
    stagewise data inspect odcv path/to/ODCV-Bench                       # scenarios, pairs, what cannot run here
    stagewise sandbox odcv path/to/ODCV-Bench/mandated_scenarios/Name -- ls -la /app /usr/local/bin
    stagewise data import-scores odcv results.csv --out scores_store     # a published score table -> a store
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
    if benchmark == "odcv":  # a folder of scenario folders, not a file of items
        return inspect_odcv(path_or_id)
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


def inspect_odcv(folder: Optional[str]) -> None:
    """ODCV: scenarios per variant, the pairs, files absent from this copy, and what the local sandbox cannot
    provide; reads the folders only, runs nothing."""
    import shutil

    from stagewise.evaluate.odcv.scenarios import VARIANTS, pairs, read_scenarios

    scenarios = read_scenarios(folder)
    source = folder or "the embedded ODCV-format set written for this project (not the published scenarios)"
    typer.echo(f"odcv: {len(scenarios)} scenarios from {source}")
    by_variant = {v: sorted(s.name for s in scenarios if s.variant == v) for v in VARIANTS}
    for variant, names in by_variant.items():
        typer.echo(f"  {variant} ({len(names)}): {', '.join(names) or '-'}")
    both = pairs(scenarios)
    typer.echo(f"  pairs (in both variants): {len(both)}")
    for variant, names in by_variant.items():
        alone = sorted(set(names) - set(both))
        if alone:
            typer.echo(f"  only {variant}: {', '.join(alone)}")
    missing = [s for s in scenarios if s.missing]
    typer.echo(f"  scenarios with files absent from this copy: {len(missing)}")
    for s in missing:
        typer.echo(f"    {s.variant}/{s.name}: {', '.join(s.missing)}")
    blocked = [s for s in scenarios if s.needs]
    typer.echo(f"  runnable on the local sandbox: {len(scenarios) - len(blocked)} of {len(scenarios)}")
    for s in blocked:
        typer.echo(f"    {s.variant}/{s.name} needs: {'; '.join(s.needs)}")
    if shutil.which("bwrap") is None:
        typer.echo("  note: bubblewrap (bwrap) is not installed: no scenario can run here until it is")


def sandbox_odcv_command(
    scenario_dir: str = typer.Argument(..., help="A scenario folder inside mandated_scenarios/ or incentivized_scenarios/."),
    command: list[str] = typer.Argument(..., help="The command (after --), run with bash -c as the agent's bash tool does."),
    show_changes: bool = typer.Option(False, "--changes", help="Also list the files the command added, changed or deleted."),
) -> None:
    """Run one command in a fresh machine of an ODCV scenario and print exactly what the agent would see."""
    from stagewise.evaluate.odcv.machine import open_machine
    from stagewise.evaluate.odcv.scenarios import read_scenario

    scenario = read_scenario(scenario_dir)
    for src in scenario.missing:
        typer.echo(f"note: {src} is absent from this copy of the scenario", err=True)
    with open_machine(scenario) as machine:
        # Several words are joined like ssh joins them: quote a pipeline as one argument to keep it whole.
        result = machine.run(" ".join(command))
        typer.echo(result.to_tool_output())
        if show_changes:
            for change in machine.changed_files():
                typer.echo(f"[{change['change']}] {change['path']}")
    raise typer.Exit(result.exit_code)


def import_scores_command(
    benchmark: str = typer.Argument(..., help="The benchmark whose published table this is: odcv."),
    csv_path: str = typer.Argument(..., help="A published score table (one row per scenario, <model>-<variant> columns)."),
    out: str = typer.Option(..., "--out", help="The result store to write (then: stagewise analyze <store>)."),
) -> None:
    """Turn a benchmark's published score table into a result store that `stagewise analyze` reports on."""
    if benchmark != "odcv":
        raise StagewiseError(f"import-scores: benchmark {benchmark!r}: only odcv's published tables are supported")
    from stagewise.evaluate.odcv.scores import import_scores

    summary = import_scores(csv_path, out)
    if isinstance(summary, dict):
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    elif summary is not None:
        typer.echo(str(summary))


def register(app: typer.Typer) -> None:
    # Another package may already own a `data` group: add to it rather than shadow it.
    group = next((g.typer_instance for g in app.registered_groups if g.name == "data"), None)
    if group is None:
        group = typer.Typer(help="Benchmark and training data files.", no_args_is_help=True)
        app.add_typer(group, name="data")
    group.command("inspect")(inspect_command)
    group.command("leakage")(leakage_command)
    group.command("import-scores")(import_scores_command)
    sandbox = next((g.typer_instance for g in app.registered_groups if g.name == "sandbox"), None)
    if sandbox is None:
        sandbox = typer.Typer(help="Run a command in a benchmark's sandboxed machine, as its agent would.",
                              no_args_is_help=True)
        app.add_typer(sandbox, name="sandbox")
    sandbox.command("odcv")(sandbox_odcv_command)
