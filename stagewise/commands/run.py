"""`stagewise run`: the whole study in one command — train every stage, serve every checkpoint, evaluate, analyse.

    stagewise run configs/demo.yaml                 # the embedded demo (README's main command)
    stagewise run configs/demo.yaml output_dir=/tmp/demo training.sft.max_steps=20

Each step reads the previous step's files and skips what is complete, so rerunning after a crash resumes
(`stagewise.run.run_study`).
"""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: str = typer.Argument(..., help="Study config YAML (see configs/).", show_default=False),
        overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides", show_default=False),
        until: str = typer.Option("analyze", help="Stop after this step: train | eval | analyze."),
    ) -> None:
        """Run a whole study: train -> serve -> eval -> analyze, resuming whatever is already done."""
        from stagewise.config import load_study
        from stagewise.run import check_inputs, run_study

        if until not in ("train", "eval", "analyze"):
            raise typer.BadParameter("must be train, eval or analyze", param_hint="--until")
        study = load_study(config, overrides or [])
        check_inputs(study, until)
        run_study(study, until=until)
