"""`stagewise eval` and `stagewise data inspect`.

    stagewise eval configs/demo.yaml                                   # serve the study's models, evaluate
    stagewise eval configs/demo.yaml --endpoint http://127.0.0.1:8000/v1   # use an app already serving them
    stagewise data inspect xstest path/to/xstest_prompts.csv           # check a file before spending compute
    stagewise data inspect harmbench                                   # the embedded set
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError


def eval_command(
    config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. evaluation.benchmarks.xstest.limit=20", show_default=False),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL of a Serve app already serving the study's models."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="Its API key, if it needs one."),
) -> None:
    """Evaluate the study's models on its benchmarks; a rerun does only what is missing."""
    from stagewise.cluster.local import ray_cluster
    from stagewise.evaluate.pipeline import check_inputs, run_evaluation
    from stagewise.config import load_study

    study = load_study(config, overrides or [])
    check_inputs(study)  # bad benchmark files and missing checkpoints fail here, before any cluster starts
    if not endpoint:
        from stagewise.serve.app import check_sources

        check_sources({m.id: study.model_path(m.id) for m in study.models})
    with ray_cluster(study.cluster):
        if endpoint:
            results = run_evaluation(study, _existing_app(endpoint, api_key))
        else:
            from stagewise.serve.app import serve_study

            with serve_study(study) as served:
                results = run_evaluation(study, served)
    typer.echo(f"results: {results}")


def _existing_app(endpoint: str, api_key: str | None):
    """A ServedApp for an endpoint someone else started: its model ids come from /v1/models."""
    import urllib.request

    from stagewise.serve.app import ServedApp

    request = urllib.request.Request(endpoint.rstrip("/") + "/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            ids = [m["id"] for m in json.load(r)["data"]]
    except Exception as e:  # unreachable, wrong key, not an OpenAI server: one line
        raise StagewiseError(f"--endpoint {endpoint}: cannot list models ({type(e).__name__}: {e})") from None
    return ServedApp(base_url=endpoint.rstrip("/"), api_key=api_key, model_ids=ids)


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
    app.command("eval")(eval_command)
    # Another package may already own a `data` group: add to it rather than shadow it.
    group = next((g.typer_instance for g in app.registered_groups if g.name == "data"), None)
    if group is None:
        group = typer.Typer(help="Benchmark and training data files.", no_args_is_help=True)
        app.add_typer(group, name="data")
    group.command("inspect")(inspect_command)
