"""Where a study runs: the `cluster:` section of a study config."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
