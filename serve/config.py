"""Serving: the `serving:` section of a study config (one Ray Serve LLM app for every model).

    serving:
      host: 127.0.0.1          # loopback unless a deployment says otherwise
      port: 8000
      api_key_env: STAGEWISE_API_KEY   # where the key comes from; any other host than loopback needs one
      max_replicas: 2          # replicas per model: Ray Serve adds them under load, up to this (ReplicaScaling)
      target_ongoing_requests: 2
      models:                  # per-model overrides (ids from `models:`); what a model leaves unset is the section's
        judge: {max_replicas: 4, accelerator_type: H100, tensor_parallel_size: 2}
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stagewise.core.errors import StagewiseError


class ReplicaScaling(BaseModel):
    """How many engine replicas serve a model: Ray Serve's `autoscaling_config` of its LLM deployment.

    Serve starts `initial_replicas` (default `min_replicas`) and moves between the bounds to keep about
    `target_ongoing_requests` requests in flight (running or queued) per replica, averaged over `look_back_period_s`,
    once a change has been wanted for `upscale_delay_s` / `downscale_delay_s`; the cluster's autoscaler launches the
    nodes new replicas need.
    A request is one HTTP call: the evaluation's `/v1/completions` requests carry `evaluation.prompts_per_request`
    prompts each. The target is always passed: Ray Serve LLM's own default (10^9) would never scale out on load,
    and `max_replicas` would be a number nothing reached. 2, the delays and the window are Ray Serve's defaults.
    """

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float = Field(default=2.0, gt=0)
    upscale_delay_s: float = Field(default=30.0, ge=0)
    downscale_delay_s: float = Field(default=600.0, ge=0)
    # The window Serve averages in-flight requests over; Ray Serve warns (and means to refuse) one not above its
    # 10 s metrics interval.
    look_back_period_s: float = Field(default=30.0, gt=10)

    def autoscaling_config(self) -> dict:
        """Ray Serve's `autoscaling_config` of the deployment (`ray.serve.config.AutoscalingConfig` fields)."""
        out = self.model_dump(include=set(ReplicaScaling.model_fields))
        if out["initial_replicas"] is None:
            del out["initial_replicas"]
        return out


def replica_bounds_error(min_replicas: int | None, max_replicas: int | None, initial: int | None) -> str | None:
    """Why these bounds cannot hold (None where they can); an unset bound is not checked."""
    if min_replicas is not None and max_replicas is not None and min_replicas > max_replicas:
        return f"min_replicas {min_replicas} is above max_replicas {max_replicas}"
    if initial is not None and min_replicas is not None and initial < min_replicas:
        return f"initial_replicas {initial} is below min_replicas {min_replicas}"
    if initial is not None and max_replicas is not None and initial > max_replicas:
        return f"initial_replicas {initial} is above max_replicas {max_replicas}"
    return None


class EngineSettings(BaseModel):
    """Where one model's engine runs and how vLLM is set up (per model only)."""

    model_config = ConfigDict(extra="forbid")

    accelerator_type: str | None = None  # e.g. "H100" on a GPU cluster; None on CPU
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int | None = Field(default=None, ge=16)
    engine_kwargs: dict = Field(default_factory=dict)  # passed to vLLM as-is (wins over everything else)


class ServedModelConfig(EngineSettings):
    """Per-model overrides; what a model leaves unset (None) is the section's (`ServeConfig.for_model`)."""

    # ReplicaScaling's fields, unset: the section's
    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float | None = Field(default=None, gt=0)
    upscale_delay_s: float | None = Field(default=None, ge=0)
    downscale_delay_s: float | None = Field(default=None, ge=0)
    look_back_period_s: float | None = Field(default=None, gt=10)

    @model_validator(mode="after")
    def _bounds(self) -> "ServedModelConfig":
        if error := replica_bounds_error(self.min_replicas, self.max_replicas, self.initial_replicas):
            raise ValueError(error)
        return self


class ResolvedModelConfig(ReplicaScaling, EngineSettings):
    """A served model's settings, the section's scaling where it sets none (`ServeConfig.for_model`)."""


class ServeConfig(ReplicaScaling):
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
    # min_replicas, max_replicas, initial_replicas, target_ongoing_requests, upscale/downscale_delay_s,
    # look_back_period_s: every model's, unless it sets its own (ReplicaScaling)
    # Serve restarts a replica whose engine fails to start this many times before the app fails readiness.
    start_attempts: int = Field(default=3, ge=1)
    # At most this many models (the judges included) served at once; the rest wait for a later wave
    # (stagewise/waves.py). None: as many as the GPUs hold. On CPU it is host memory that runs out: each engine
    # takes its kv_cache_gb plus ~1.5-2 GB.
    max_models_per_wave: int | None = Field(default=None, ge=1)
    models: dict[str, ServedModelConfig] = Field(default_factory=dict)  # model id -> overrides

    @model_validator(mode="after")
    def _bounds(self) -> "ServeConfig":
        if error := replica_bounds_error(self.min_replicas, self.max_replicas, self.initial_replicas):
            raise ValueError(error)
        for model_id in self.models:  # a model's own bounds against the section's it keeps
            m = self.for_model(model_id)
            if error := replica_bounds_error(m.min_replicas, m.max_replicas, m.initial_replicas):
                raise ValueError(f"models.{model_id}: {error} (what it leaves unset is serving's)")
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

    def for_model(self, model_id: str) -> ResolvedModelConfig:
        """The model's settings: its overrides, and the section's replica scaling where it sets none."""
        own = self.models[model_id].model_dump(exclude_none=True) if model_id in self.models else {}
        return ResolvedModelConfig.model_construct(
            **{**ReplicaScaling.model_dump(self, include=set(ReplicaScaling.model_fields)), **own})


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
