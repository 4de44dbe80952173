"""Where a study runs: the `cluster:` section of a study config.

    cluster:
      gpu_type: H100              # Ray accelerator_type label, and what `stagewise plan` sizes for
      gpu_memory_gb: 80
      gpus_per_node: 8
      max_nodes: 4                # GPU nodes the autoscaler may bring up
      throughput: {train_mfu: 0.35, decode_mfu: 0.10}   # planning assumptions, printed by `stagewise plan`

The first five fields say how to reach or start Ray; the rest only feed `stagewise plan` (stagewise/plan.py),
which turns them into GPUs, memory per GPU and hours per stage before anything is paid for.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ThroughputAssumptions(BaseModel):
    """Stated figures that turn token counts into hours. Every one is printed by `stagewise plan`.

    Training and generation cost is counted in FLOPs (6 x params per trained token, 2 x params per generated or
    prefilled token) over the device's peak at an assumed model FLOPs utilisation (MFU): that keeps one figure
    valid across model sizes, where "tokens/s per GPU" would need a table per model.
    """

    model_config = ConfigDict(extra="forbid")

    # ZeRO-3 bf16 full fine-tuning of 7-13B decoders on H100s reports 35-45% MFU; take the low end.
    train_mfu: float = Field(default=0.35, gt=0, le=1)
    # vLLM decode at batch 128+ is memory-bound well below peak; ~10% of dense bf16 matches its published
    # throughput benchmarks for 7-70B models (about 10k output tok/s for a 7B model on one H100).
    decode_mfu: float = Field(default=0.10, gt=0, le=1)
    prefill_mfu: float = Field(default=0.40, gt=0, le=1)  # prompt processing is compute-bound
    prompt_tokens: int = Field(default=256, ge=1)  # mean rendered benchmark prompt (chat template included)
    # The judge reads its grader template + the prompt + the response and writes a short verdict.
    judge_prompt_tokens: int = Field(default=1024, ge=1)
    judge_output_tokens: int = Field(default=32, ge=1)
    # Mean tokens of one training row (a chat or a preference pair side); sets steps per epoch.
    mean_row_tokens: int = Field(default=700, ge=1)
    cpu_peak_tflops_per_cpu: float = Field(default=0.1, gt=0)  # one AVX-512 core at fp32 (train/config.py agrees)
    # Memory planning: vLLM's default gpu_memory_utilization, and what training may use of a GPU (CUDA context,
    # NCCL buffers and allocator fragmentation take the rest).
    serve_memory_fraction: float = Field(default=0.90, gt=0, le=1)
    train_memory_fraction: float = Field(default=0.90, gt=0, le=1)


class ClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Ray address to join ("auto", "ray://...", "127.0.0.1:6379"). None: join RAY_ADDRESS or a Ray job's
    # cluster when there is one, else start an embedded local cluster.
    address: str | None = None
    # Logical CPUs of the embedded cluster. None: max(8, 2 x cores). More logical CPUs than cores is what
    # keeps Ray Data's read/write tasks schedulable next to actors on a 2-core machine (see STACK.md).
    num_cpus: int | None = Field(default=None, ge=1)
    num_gpus: int | None = Field(default=None, ge=0)
    dashboard: bool = False  # the embedded cluster's dashboard (bound to 127.0.0.1)
    object_store_memory_gb: float | None = Field(default=None, gt=0)

    # -- what the GPU cluster offers (read by `stagewise plan`; cluster/launcher and cluster/kuberay match it)
    gpu_type: str = "H100"
    gpu_memory_gb: float = Field(default=80, gt=0)
    gpu_peak_tflops: float = Field(default=989, gt=0)  # dense bf16 per GPU (H100 SXM: 989; A100: 312)
    gpus_per_node: int = Field(default=8, ge=1)
    # Host RAM per node (`stagewise plan` checks training's loading, data and reference terms against it). None:
    # this machine's for an embedded CPU study, else 1,000 GB (8-GPU H100 nodes have 1-2 TB).
    node_memory_gb: float | None = Field(default=None, gt=0)
    max_nodes: int = Field(default=4, ge=1)  # GPU worker nodes the autoscaler may run at once
    throughput: ThroughputAssumptions = Field(default_factory=ThroughputAssumptions)
    # Parameter counts (billions) by model id or hub id, for architectures `stagewise plan` cannot read
    # (no local config.json and not in cluster/architectures.py). Wins over both.
    models_params_b: dict[str, float] = Field(default_factory=dict)
