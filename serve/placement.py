"""Whether a served model's engine runs on GPUs or on CPUs: one rule for the Serve app and the resource planner.

    serves_on_gpu(cfg, "judge", live_cluster_has_gpus())    # serve/app.py, on the live cluster
    serves_on_gpu(cfg, "judge", <planned cluster has GPUs>)  # stagewise/plan.py, before any cluster starts

`serving.device` decides when it is `cpu` or `gpu`. With `auto`, a model that names an `accelerator_type` serves on
GPUs: the type only exists for GPUs, so naming one asks for one, and an autoscaling cluster may have no node of
that type until an engine asks for it. Other models serve on GPUs when the cluster has any, else on CPUs
(vLLM's CPU build).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagewise.serve.config import ServeConfig


def serves_on_gpu(cfg: "ServeConfig", model_id: str, cluster_has_gpus: bool) -> bool:
    if cfg.device != "auto":
        return cfg.device == "gpu"
    return cfg.for_model(model_id).accelerator_type is not None or cluster_has_gpus


def live_cluster_has_gpus() -> bool:
    """Whether the Ray cluster this process is connected to has GPUs (a CPU-only head may drive GPU workers);
    without a running Ray, whether this machine has CUDA."""
    import ray

    from stagewise.cluster.env import has_cuda

    if ray.is_initialized():
        return ray.cluster_resources().get("GPU", 0) > 0
    return has_cuda()
