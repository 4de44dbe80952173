"""Serving: the `serving:` section of a study config (one Ray Serve LLM app for every model).

    serving:
      host: 127.0.0.1          # loopback unless a deployment says otherwise
      port: 8000
      api_key_env: STAGEWISE_API_KEY   # where the key comes from; any other host than loopback needs one
      models:                  # per-model overrides (ids from `models:`); others get the defaults
        judge: {max_replicas: 2, accelerator_type: H100, tensor_parallel_size: 2}
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stagewise.core.errors import StagewiseError


class ServedModelConfig(BaseModel):
    """Per-model overrides; models not listed get the defaults."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    accelerator_type: str | None = None  # e.g. "H100" on a GPU cluster; None on CPU
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int | None = Field(default=None, ge=16)
    engine_kwargs: dict = Field(default_factory=dict)  # passed to vLLM as-is (wins over everything else)

    @model_validator(mode="after")
    def _bounds(self) -> "ServedModelConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_name: str = Field(default="stagewise", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # Ray Serve app name
    host: str = "127.0.0.1"  # bind loopback unless a deployment says otherwise
    port: int = Field(default=8000, ge=0, le=65535)  # 0: pick a free port
    # The key clients must send (`Authorization: Bearer <key>`). Prefer `api_key_env`, the environment variable it
    # is read from when api_key is unset, so it never sits in a config file or the saved study.yaml. No key is
    # allowed on a loopback host only (`check_exposure`).
    api_key: str | None = None
    api_key_env: str = Field(default="STAGEWISE_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    ready_timeout_s: float = Field(default=300, gt=0)
    # auto, per model: GPUs if it names an accelerator_type or the cluster has GPUs, else CPUs (serve/placement.py).
    device: Literal["auto", "cpu", "gpu"] = "auto"
    # auto: bfloat16 on GPUs and on CPUs with bf16 units (AVX-512 BF16 / AMX); float32 on other CPUs, which
    # emulate bf16 (vLLM decoded ~2x slower in bf16 than fp32 on this project's AVX2 dev machine). float16 is
    # for GPUs without bf16 (V100, T4); vLLM's CPU build has none.
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_model_len: int = Field(default=512, ge=16)
    kv_cache_gb: int = Field(default=1, ge=1)  # VLLM_CPU_KVCACHE_SPACE on CPU (whole GiB, vLLM parses an int)
    cpus_per_replica: float = Field(default=1, gt=0)  # the CPU placement bundle of one engine
    # The OpenAI router replica's CPU reservation. Ray Serve's default is a whole CPU: on a 4-CPU head running the
    # demo (3 engines) it took the last free CPU and evaluation waited for one forever (issue 24). It routes
    # requests, the engines compute; Ray Serve LLM gives its own router num_cpus=0 for the same reason.
    ingress_cpus: float = Field(default=0, ge=0)
    # Skip torch.compile in vLLM: engines start ~1 min sooner on a busy CPU (tests), decode somewhat slower.
    enforce_eager: bool = False
    max_num_seqs: int = Field(default=128, ge=1)  # vLLM's batch size cap: bounds memory on small machines
    max_ongoing_requests: int = Field(default=256, ge=1)  # per replica, before Serve queues at the router
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    # Serve restarts a replica whose engine fails to start this many times before the app fails readiness.
    start_attempts: int = Field(default=3, ge=1)
    models: dict[str, ServedModelConfig] = Field(default_factory=dict)  # model id -> overrides

    @model_validator(mode="after")
    def _bounds(self) -> "ServeConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self

    def resolved_api_key(self) -> str | None:
        return self.api_key or os.environ.get(self.api_key_env) or None

    def check_exposure(self) -> None:
        """Refuse to serve beyond this machine without a key: Serve's OpenAI app answers anyone who can reach it,
        and on a cluster the head's network reaches further than its users think."""
        if not is_loopback(self.host) and self.resolved_api_key() is None:
            raise StagewiseError(
                f"serving.host: {self.host} is not a loopback address and no API key is set; export "
                f"{self.api_key_env} (serving.api_key_env) or set serving.api_key, or serve on serving.host: 127.0.0.1")

    def engine_dtype(self, gpu: bool) -> str:
        """The dtype the engines load weights in (`auto` resolved for this machine)."""
        if self.dtype == "float16" and not gpu:
            raise StagewiseError("serving.dtype: float16 is not supported by vLLM's CPU build; "
                                 "use auto, bfloat16 or float32")
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if gpu or cpu_has_bf16() else "float32"

    def for_model(self, model_id: str) -> ServedModelConfig:
        """The model's overrides, or the section-wide replica bounds when it has none."""
        if model_id in self.models:
            return self.models[model_id]
        return ServedModelConfig(min_replicas=self.min_replicas, max_replicas=self.max_replicas)


def is_loopback(host: str) -> bool:
    """Whether `host` binds this machine only (127.0.0.0/8, ::1, localhost); 0.0.0.0 and names are not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it resolves to something reachable from elsewhere, as far as we know
        return False


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bf16 natively (a CPU cluster's engines run on nodes like this one)."""
    try:
        flags = set(Path(cpuinfo).read_text().split())
    except OSError:  # no /proc (not Linux): vLLM's CPU build is Linux-only anyway; keep vLLM's usual bf16
        return True
    return bool(flags & {"avx512_bf16", "amx_bf16"})
