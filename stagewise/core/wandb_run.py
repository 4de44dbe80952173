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


def run_tags(family: str | None = None, stage: str | None = None, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """A run's W&B tags, `family:<name>` and `stage:<name>`, so the comparison views filter and group by both."""
    tags = [f"family:{family}"] if family else []
    tags += [f"stage:{stage}"] if stage else []
    return tags + list(extra)


def start_run(settings: WandbSettings, run_dir: str | Path, *, name: str, job_type: str, study: str | None = None,
              family: str | None = None, stage: str | None = None, **init_kwargs: Any):
    """A W&B run under `<run_dir>/wandb/`, or None when W&B is disabled. `init_kwargs` go to `wandb.init`
    (config, group, tags, id, resume, reinit). `study` groups the run (W&B group = study name); `family` and
    `stage` tag it (`run_tags`) and go into its config, so runs filter and group by both."""
    if settings.mode == "disabled":
        return None
    if study is not None:
        init_kwargs.setdefault("group", study)
    if family or stage:
        init_kwargs["tags"] = list(dict.fromkeys(run_tags(family, stage, init_kwargs.get("tags") or ())))
        init_kwargs["config"] = {**(init_kwargs.get("config") or {}), "family": family, "stage": stage}
    import wandb

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")  # its banner on every stage and worker drowned the console
    os.environ.setdefault("WANDB_DIR", str(run_dir))
    return wandb.init(project=settings.project, entity=settings.entity, mode=settings.mode, dir=str(run_dir),
                      name=name, job_type=job_type, **init_kwargs)
