"""`stagewise eval`: serve a study's models and evaluate them (or use an app already serving them).

    stagewise eval configs/demo.yaml                                   # serve the study's models, evaluate
    stagewise eval configs/demo.yaml --endpoint http://127.0.0.1:8000/v1   # use an app already serving them

Before serving, the engines and the smallest evaluation are checked against the cluster together (they run at
the same time: `preflight.check_serving`), then the eval actor pools are sized to what is free
(`preflight.size_eval_pools`): a study that cannot be placed fails in seconds, naming the shortfall, instead of
eval actors waiting for CPUs the engines hold.
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
    from stagewise import preflight
    from stagewise.cluster.local import ray_cluster
    from stagewise.config import load_study
    from stagewise.evaluate.pipeline import check_inputs
    from stagewise.run import evaluate, served_models, serving, sized_eval_pools
    from stagewise.serve.app import check_sources, existing_app

    study = load_study(config, overrides or [])
    check_inputs(study.evaluation)  # bad benchmark files and missing checkpoints fail here, before any cluster starts
    if not endpoint:
        check_sources(served_models(study))
    with ray_cluster(study.cluster):
        if endpoint:
            eval_cfg = sized_eval_pools(study.evaluation)  # the actors only: the engines are the endpoint's
            results = evaluate(study, existing_app(endpoint, api_key), cfg=eval_cfg)
        else:
            preflight.check_serving(list(served_models(study)), study.serving, study.evaluation)
            with serving(study) as served:
                results = evaluate(study, served, cfg=sized_eval_pools(study.evaluation))
    typer.echo(f"results: {results}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
