"""`stagewise eval`: serve a study's models and evaluate them (or use an app already serving them).

    stagewise eval configs/demo.yaml                                   # serve the study's models, evaluate
    stagewise eval configs/demo.yaml --endpoint http://127.0.0.1:8000/v1   # use an app already serving them
"""
from __future__ import annotations

from typing import Optional

import typer


def eval_command(
    config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. evaluation.benchmarks.xstest.limit=20", show_default=False),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL of a Serve app already serving the study's models."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="Its API key, if it needs one."),
) -> None:
    """Evaluate the study's models on its benchmarks; a rerun does only what is missing."""
    from stagewise.cluster.local import ray_cluster
    from stagewise.config import load_study
    from stagewise.evaluate.pipeline import check_inputs
    from stagewise.run import evaluate, served_models, serving
    from stagewise.serve.app import check_sources, existing_app

    study = load_study(config, overrides or [])
    check_inputs(study.evaluation)  # bad benchmark files and missing checkpoints fail here, before any cluster starts
    if not endpoint:
        check_sources(served_models(study))
    with ray_cluster(study.cluster):
        if endpoint:
            results = evaluate(study, existing_app(endpoint, api_key))
        else:
            with serving(study) as served:
                results = evaluate(study, served)
    typer.echo(f"results: {results}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
