"""`stagewise plan`: validate a study and print its resource plan without running anything.

    stagewise plan configs/olmo2-7b.yaml
    stagewise plan configs/olmo2-7b.yaml cluster.gpu_type=A100 cluster.gpu_memory_gb=40 cluster.gpu_peak_tflops=312
"""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from stagewise.cli import ConfigArg, OverridesArg

    @app.command()
    def plan(config: str = ConfigArg, overrides: Optional[list[str]] = OverridesArg) -> None:
        """Print GPUs, nodes, memory per GPU, call counts and hours per stage; fail if the study cannot fit."""
        from stagewise.plan import format_plan, plan_study
        from stagewise.config import load_study
        from stagewise.core.errors import StagewiseError

        study = load_study(config, overrides or [])
        try:
            plan = plan_study(study)
        except StagewiseError as e:  # name the file as well as the field
            raise StagewiseError(f"{config}: {e}") from None
        typer.echo(format_plan(plan), nl=False)
