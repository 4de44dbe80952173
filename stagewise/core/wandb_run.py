"""W&B: the `wandb:` section of a study config and the one place a run is started.

    wandb: {mode: offline, project: stagewise}      # offline runs land in <output_dir>/wandb/; `wandb sync` uploads

Training (rank 0 of each stage), evaluation and analysis each log their own runs, all through `start_run`, so
the settings are read in one shape and `mode: disabled` means no W&B import anywhere.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class WandbSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "stagewise"
    entity: str | None = None


def start_run(settings: WandbSettings, run_dir: str | Path, *, name: str, job_type: str, **init_kwargs: Any):
    """A W&B run under `<run_dir>/wandb/`, or None when W&B is disabled. `init_kwargs` go to `wandb.init`
    (config, group, tags, id, resume, reinit)."""
    if settings.mode == "disabled":
        return None
    import wandb

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")  # its banner on every stage and worker drowned the console
    os.environ.setdefault("WANDB_DIR", str(run_dir))
    return wandb.init(project=settings.project, entity=settings.entity, mode=settings.mode, dir=str(run_dir),
                      name=name, job_type=job_type, **init_kwargs)
