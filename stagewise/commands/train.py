"""`stagewise train`: run a study's training stages (all, or one with --stage).

    stagewise train configs/demo.yaml
    stagewise train configs/demo.yaml training.sft.max_steps=20 --stage sft
    ray job submit --working-dir . -- stagewise train configs/demo.yaml   # joins the job's cluster

Before training, each stage's worker group is checked against the cluster (`preflight.check_training`): one
that cannot be placed fails in seconds, naming the shortfall, instead of waiting for workers that never start.
"""
from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
        overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides", show_default=False),
        stage: Optional[str] = typer.Option(None, "--stage", help="Run only this training stage (by name)."),
    ) -> None:
        """Train the study's stages in order (a rerun skips finished stages and resumes interrupted ones)."""
        from stagewise import preflight
        from stagewise.cluster.local import ray_cluster
        from stagewise.config import load_study
        from stagewise.core.errors import StagewiseError
        from stagewise.run import train as train_stages
        from stagewise.train.run import LINEAGE, check_stage_inputs, summary

        study = load_study(config, overrides or [])
        stages = study.training
        if stage is not None:
            stages = [s for s in study.training if s.name == stage]
            if not stages:
                names = ", ".join(s.name for s in study.training) or "none"
                raise StagewiseError(f"{config}: no training stage {stage!r} (stages: {names})")
        if not stages:
            raise StagewiseError(f"{config}: training: no stages to run")
        for s in stages:
            check_stage_inputs(s)
        with ray_cluster(study.cluster):
            preflight.check_training(stages)
            paths = train_stages(study, stages)
            for s in stages:
                out = paths[s.output]
                typer.echo(f"{s.name}: {summary(json.loads((out / LINEAGE).read_text()))}")
                typer.echo(f"{s.name}: wrote {out}")
