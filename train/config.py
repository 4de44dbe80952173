"""Training stages: the `training:` section of a study config (a list of stages run in order)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainStageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # unique within the study, e.g. "pretrain", "sft", "dpo"
    objective: Literal["pretrain", "sft", "dpo"]
    # Where the weights start: a model id of this study, a local HF dir or a hub id, or "tiny" for a fresh
    # random-init model built from the study's `tiny:` section (the embedded demo's pretrain stage).
    init: str
    output: str  # the model id this stage produces (must be one of the study's models)
    data: list[str] = Field(min_length=1)  # JSONL / Parquet / text files, or hub dataset ids
    num_workers: int = Field(default=2, ge=1)
    use_gpu: bool = False
    zero_stage: Literal[2, 3] = 2
    precision: Literal["bf16", "fp32", "fp16"] = "bf16"  # fp16 does not run on CPU; the trainer says so
    offload_optimizer: bool = False
    micro_batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    max_steps: int | None = Field(default=None, ge=1)
    epochs: float = Field(default=1.0, gt=0)
    max_seq_len: int = Field(default=256, ge=8)
    packing: bool = False
    grad_clip: float | None = Field(default=1.0, gt=0)
    checkpoint_every: int | None = Field(default=None, ge=1)
    dpo_beta: float = Field(default=0.1, gt=0)
    seed: int | None = None  # None: the study seed

    @model_validator(mode="after")
    def _dpo_only_fields(self) -> "TrainStageConfig":
        if self.packing and self.objective == "dpo":
            raise ValueError("packing is not supported for the dpo objective")
        return self
