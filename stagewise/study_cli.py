"""`stagewise run`: the whole study in one command — train every stage, serve every checkpoint, evaluate, analyse.

    stagewise run configs/demo.yaml                 # the embedded demo (README's main command)
    stagewise run configs/demo.yaml output_dir=/tmp/demo training.sft.max_steps=20

Each step reads the previous step's files and skips what is complete, so rerunning after a crash resumes.
Per-step wall times are printed at the end and saved to `<output_dir>/report/timings.json`.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

STEPS = ("train", "serve", "eval", "analyze")


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
        overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides", show_default=False),
        until: str = typer.Option("analyze", help="Stop after this step: train | eval | analyze."),
    ) -> None:
        """Run a whole study: train -> serve -> eval -> analyze, resuming whatever is already done."""
        from stagewise.config import load_study

        if until not in ("train", "eval", "analyze"):
            raise typer.BadParameter("must be train, eval or analyze", param_hint="--until")
        study = load_study(config, overrides or [])
        check_inputs(study, until)
        run_study(study, until=until)


def check_inputs(study, until: str = "analyze") -> None:
    """Every input file and given checkpoint is read or found before any cluster starts: a bad row fails in
    seconds with its file and row, not after an hour of training."""
    from stagewise.serve.app import check_sources
    from stagewise.train.run import check_stage_inputs

    for stage in study.training:
        check_stage_inputs(stage)
    check_sources({m.id: m.source for m in study.models if m.source is not None})
    if until != "train":
        from stagewise.evaluate.pipeline import check_inputs as check_eval_inputs

        check_eval_inputs(study)


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    typer.secho(f"== {name}", bold=True)
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 1)


def run_study(study, until: str = "analyze") -> dict[str, float]:
    from stagewise.cluster.local import ray_cluster
    from stagewise.config import dump_study

    out = Path(study.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.yaml").write_text(dump_study(study))
    timings: dict[str, float] = {}
    total_start = time.perf_counter()
    with ray_cluster(study.cluster) as cluster:
        deployer = None
        if until != "train":
            from stagewise.serve.deployer import start_deployer

            # Started now, it imports Ray Serve LLM and vLLM (~17 CPU-s) on the core the driver's training prep
            # (tokenizing, the tiny init) leaves idle, instead of between training and serving (serve/deployer.py).
            deployer = start_deployer()
        from stagewise.train import run_stages

        trained: dict[str, float] = {}
        with _timed(timings, "train"):
            paths = run_stages(study, study.training, trained)
        for stage in study.training:
            typer.echo(f"   {stage.output} -> {paths[stage.output]}")
        # One chained run trains the stages: `train` is its wall time; `train:<stage>` each stage's part of it
        # as rank 0 measured (the first includes worker start-up), the rest is the driver's start and exports.
        timings |= trained
        if until != "train":
            from stagewise.evaluate import run_evaluation
            from stagewise.serve.app import serve_study

            with _timed(timings, "serve:start"):
                served = serve_study(study, deployer)
                app = served.__enter__()
            if cluster["embedded"] and cluster.get("session_dir"):  # its Serve logs go to files only (cluster/local.py)
                typer.echo(f"   serving logs -> {Path(cluster['session_dir']) / 'logs' / 'serve'}")
            try:
                with _timed(timings, "eval"):
                    results = run_evaluation(study, app)
            finally:
                served.__exit__(None, None, None)
            typer.echo(f"   results -> {results}")
    if until == "analyze":
        from stagewise.analysis import analyze_study

        with _timed(timings, "analyze"):
            report = analyze_study(study)
        typer.echo(f"   report -> {report}")
    timings["total"] = round(time.perf_counter() - total_start, 1)
    (out / "report").mkdir(parents=True, exist_ok=True)
    (out / "report" / "timings.json").write_text(json.dumps(timings, indent=2))
    typer.secho("\nwall time per step (s)", bold=True)
    for name, secs in timings.items():
        part = name.startswith("train:")  # a part of `train` above it, not a step of its own
        typer.echo(f"  {'  ' + name if part else name:<24}{secs:>8.1f}")
    typer.echo(f"\noutputs: {out.resolve()}")
    return timings
