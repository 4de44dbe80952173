"""The run context a stage is handed with its own config section: what it needs of the study, and no more.

    ctx = study.context()                                   # the study layer builds it (stagewise/config.py)
    run_stages(study.training, ctx, study.tiny)             # a stage never sees the Study
    run_evaluation(study.evaluation, ctx, served)

A stage reads here the study's name, output folder, seed, W&B settings and where each model's weights are;
everything else it needs is in its own section. Tests and other callers build one directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stagewise.core.wandb_run import WandbSettings


@dataclass(frozen=True)
class ModelRef:
    """One model of the study as the stages see it."""

    path: str  # its weights: a local HF dir (absolute) or a hub id; trained models: <output_dir>/models/<id>
    stage: str  # base | sft | production | judge | ...: what the analysis groups by
    role: str = "policy"  # policy | judge | writer
    trained: bool = False  # produced by one of the study's training stages (else given as a source)
    family: str | None = None  # its model family (`families:` in the study config); None: no family


@dataclass(frozen=True)
class RunContext:
    study: str  # the study's name: run names, W&B group, lineage
    output_dir: Path  # absolute: Ray workers do not run in the driver's working directory
    seed: int = 0
    wandb: WandbSettings = field(default_factory=lambda: WandbSettings(mode="disabled"))
    models: dict[str, ModelRef] = field(default_factory=dict)

    def model_path(self, model_id: str) -> str:
        return self.models[model_id].path
