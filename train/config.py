"""Training stages: the `training:` section of a study config (a list of stages run in order).

    stagewise train configs/demo.yaml training.sft.max_steps=20 --stage sft
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


VLLM_CPU_HEAD_DIMS = frozenset({32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512})


class TinyModelConfig(BaseModel):
    """The embedded demo's locally built tokenizer and random-init Llama (no hub needed)."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(default=2048, ge=300)
    hidden_size: int = Field(default=128, ge=8)
    num_layers: int = Field(default=2, ge=1)
    num_heads: int = Field(default=4, ge=1)
    num_kv_heads: int = Field(default=2, ge=1)
    intermediate_size: int = Field(default=384, ge=8)
    max_position_embeddings: int = Field(default=512, ge=16)

    @model_validator(mode="after")
    def _heads_divide(self) -> "TinyModelConfig":
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not divisible by num_kv_heads {self.num_kv_heads}")
        head_dim = self.hidden_size // self.num_heads
        if head_dim not in VLLM_CPU_HEAD_DIMS:  # vLLM's CPU attention kernels exist for these only
            raise ValueError(f"head dim hidden_size/num_heads = {head_dim}; vLLM's CPU build needs one of {sorted(VLLM_CPU_HEAD_DIMS)}")
        return self


class TrainStageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # unique within the study, e.g. "pretrain", "sft", "dpo"
    objective: str  # a registered objective (train/objectives/): pretrain, sft, dpo, ...
    # Where the weights start: a model id of this study, a local HF dir or a hub id, or "tiny" for a fresh
    # random-init model built from the study's `tiny:` section (the embedded demo's pretrain stage).
    init: str
    output: str  # the model id this stage produces (must be one of the study's models)
    # JSONL / Parquet / text files, or hub dataset ids, with the columns the objective reads. sft: `messages`;
    # dpo: `prompt` or `messages`, plus `chosen` and `rejected`; pretrain: `.txt` (documents separated by blank
    # lines) or a `text` column.
    data: list[str] = Field(min_length=1)
    num_workers: int = Field(default=2, ge=1)
    use_gpu: bool = False
    zero_stage: Literal[2, 3] = 2
    precision: Literal["bf16", "fp32", "fp16"] = "bf16"  # fp16 does not run on CPU; the trainer says so
    offload_optimizer: bool = False  # ZeRO-Offload: DeepSpeedCPUAdam (JIT-compiled once, ~1 min)
    micro_batch_size: int = Field(default=8, ge=1)  # sequences per worker per micro-step
    grad_accum: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)  # cosine decays to lr * min_lr_ratio
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    max_steps: int | None = Field(default=None, ge=1)  # None: `epochs` passes over the data
    epochs: float = Field(default=1.0, gt=0)
    max_seq_len: int = Field(default=256, ge=8)
    # sft: several conversations per row, attention kept within each (position ids restart). pretrain: the
    # corpus is concatenated and cut into max_seq_len blocks when on, one document per row when off.
    packing: bool = False
    grad_clip: float | None = Field(default=1.0, gt=0)
    checkpoint_every: int | None = Field(default=None, ge=1)  # optimizer steps; None: only the final one
    keep_checkpoints: int = Field(default=2, ge=1)
    max_failures: int = Field(default=2, ge=0)  # worker-group restarts from the last checkpoint
    dpo_beta: float = Field(default=0.1, gt=0)
    # DPO's reference: "logprobs" computes its log-probs once, in a first pass of the starting policy over the
    # stage's rows, kept with the checkpoints (open-instruct's way: no second model in memory); "model" keeps a
    # frozen copy of the starting model, partitioned like the policy under ZeRO-3. The default is what fits.
    dpo_reference: Literal["logprobs", "model"] = "logprobs"
    # Under ZeRO-3, load the weights already partitioned (transformers' HfDeepSpeedConfig + deepspeed.zero.Init):
    # no rank holds the whole model. Off: each rank loads it whole and deepspeed.initialize partitions it.
    zero3_init: bool = True
    # Recompute activations in the backward pass (less memory, ~1/3 more compute). None: on for GPU, off on CPU.
    gradient_checkpointing: bool | None = None
    # transformers' attention kernel ("sdpa", "eager", "flash_attention_2", ...). None: "sdpa" (on GPU too: flash
    # attention needs the flash-attn package, which is not a dependency).
    attn_implementation: str | None = None
    # MFU is the objective's FLOPs per parameter-token (6; DPO 8) * params * tokens/s over this peak. An
    # estimate: the default assumes an A100's dense bf16 (312 TFLOP/s) per GPU worker, and a nominal 0.1 TFLOP/s
    # per CPU worker (one AVX-512 core at fp32).
    peak_tflops_per_worker: float | None = Field(default=None, gt=0)
    seed: int | None = None  # None: the study seed

    @field_validator("objective")
    @classmethod
    def _registered(cls, name: str) -> str:
        from stagewise.train.objectives import objective_names  # light: no torch, transformers or ray

        names = objective_names()
        if name not in names:
            listed = ", ".join(map(repr, names[:-1])) + f" or {names[-1]!r}"
            raise ValueError(f"Input should be {listed} (the objectives in train/objectives/), got {name!r}")
        return name

    @model_validator(mode="after")
    def _packing_supported(self) -> "TrainStageConfig":
        from stagewise.train.objectives import get_objective

        if self.packing and not get_objective(self.objective).supports_packing:
            raise ValueError(f"packing is not supported for the {self.objective} objective")
        return self

    def uses_gradient_checkpointing(self) -> bool:
        return self.use_gpu if self.gradient_checkpointing is None else self.gradient_checkpointing

    def resolved_seed(self, study_seed: int) -> int:
        return study_seed if self.seed is None else self.seed

    def peak_tflops(self) -> float:
        if self.peak_tflops_per_worker is not None:
            return self.peak_tflops_per_worker
        return 312.0 if self.use_gpu else 0.1
