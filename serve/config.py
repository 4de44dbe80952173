"""Serving: the `serving:` section of a study config (one Ray Serve LLM app for every model)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServedModelConfig(BaseModel):
    """Per-model overrides; models not listed get the defaults."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    accelerator_type: str | None = None  # e.g. "H100" on a GPU cluster; None on CPU
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int | None = Field(default=None, ge=16)
    engine_kwargs: dict = Field(default_factory=dict)


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"  # bind loopback unless a deployment says otherwise
    port: int = Field(default=8000, ge=0, le=65535)  # 0: pick a free port
    api_key: str | None = None  # or set STAGEWISE_API_KEY
    ready_timeout_s: float = Field(default=300, gt=0)
    dtype: str = "bfloat16"
    max_model_len: int = Field(default=512, ge=16)
    kv_cache_gb: float = Field(default=1.0, gt=0)  # VLLM_CPU_KVCACHE_SPACE on CPU
    models: dict[str, ServedModelConfig] = Field(default_factory=dict)  # model id -> overrides
