"""`stagewise serve`: host every model of a study behind one OpenAI-compatible endpoint.

    stagewise serve configs/demo.yaml                 # embedded cluster; Ctrl-C (or SIGTERM) stops it cleanly
    ray start --head --num-cpus 8 && export RAY_ADDRESS=127.0.0.1:6379
    stagewise serve configs/demo.yaml --detach        # leave it running on that cluster and return
    stagewise serve configs/demo.yaml --stop          # delete it from that cluster

Before the app starts, its engines are checked against the cluster (`preflight.check_serving`): engines that
cannot be placed fail in seconds, naming the shortfall, instead of a deployment that never becomes ready.
"""
from __future__ import annotations

import time
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
        overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. serving.port=8001"),
        detach: bool = typer.Option(False, "--detach", help="Return once ready; the app keeps running on the cluster."),
        stop: bool = typer.Option(False, "--stop", help="Delete the study's app from the running cluster."),
    ) -> None:
        """Serve every model of the study (vLLM behind Ray Serve) until stopped."""
        from stagewise.config import load_study

        study = load_study(config, overrides or [])
        if detach and stop:
            raise typer.BadParameter("--detach and --stop exclude each other")
        if stop:
            _stop(study)
        elif detach:
            _detach(study)
        else:
            _foreground(study)


def _foreground(study) -> None:
    from stagewise import preflight
    from stagewise.cluster.local import ray_cluster
    from stagewise.run import served_models
    from stagewise.serve.app import delete_app, start_app

    with ray_cluster(study.cluster) as cluster:
        preflight.check_serving(list(served_models(study)), study.serving)
        app = start_app(served_models(study), study.serving)
        try:
            _announce(app)
            if cluster["embedded"] and cluster.get("session_dir"):  # Serve logs to files only there (cluster/local.py)
                typer.echo(f"logs: {cluster['session_dir']}/logs/serve (RAY_SERVE_LOG_TO_STDERR=1 prints them here)")
            typer.echo("serving until Ctrl-C or SIGTERM", err=True)
            while True:
                time.sleep(3600)
        except (KeyboardInterrupt, SystemExit):  # ray_cluster turns SIGTERM into SystemExit
            typer.echo("stopping", err=True)
        finally:
            delete_app(app)
    typer.echo("stopped", err=True)


def _require_running_cluster(study, flag: str) -> None:
    from stagewise.cluster.local import target_address
    from stagewise.core.errors import StagewiseError

    if not target_address(study.cluster):
        raise StagewiseError(
            f"{flag} needs a running Ray cluster: `ray start --head`, then set RAY_ADDRESS or cluster.address"
        )


def _detach(study) -> None:
    from stagewise import preflight
    from stagewise.cluster.local import ray_cluster
    from stagewise.run import served_models
    from stagewise.serve.app import start_app

    _require_running_cluster(study, "--detach")
    with ray_cluster(study.cluster):  # joined, so leaving it shuts down neither Serve nor the app
        preflight.check_serving(list(served_models(study)), study.serving)
        app = start_app(served_models(study), study.serving)
        _announce(app)
    typer.echo(f"detached; stop with: stagewise serve <config> --stop  (app {app.app_name!r})", err=True)


def _stop(study) -> None:
    from ray import serve

    from stagewise.cluster.local import ray_cluster

    _require_running_cluster(study, "--stop")
    name = study.serving.app_name
    with ray_cluster(study.cluster):
        if name not in serve.status().applications:
            typer.echo(f"no app {name!r} is running", err=True)
            return
        serve.delete(name, _blocking=True)
    typer.echo(f"stopped app {name!r}", err=True)


def _announce(app) -> None:
    typer.echo(f"endpoint: {app.base_url}")
    typer.echo(f"models: {', '.join(app.model_ids)}")
    typer.echo(f"api key: {'required (Authorization: Bearer ...)' if app.api_key else 'none'}")
