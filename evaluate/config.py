"""Evaluation: the `evaluation:` section of a study config."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=64, ge=1)
    seed: int | None = None  # None: the study seed


class AutoraterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # a registered autorater, e.g. "refusal-rules", "xstest-judge"
    kind: Literal["rules", "llm_judge"] = "rules"
    judge_model: str | None = None  # served model id, for llm_judge
    max_retries: int = Field(default=2, ge=0)


class BenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # a registered benchmark, e.g. "xstest"
    path: str | None = None  # local file or hub dataset id; None: the embedded set shipped with stagewise
    limit: int | None = Field(default=None, ge=1)
    samples: int = Field(default=1, ge=1)  # generations per item
    autoraters: list[str] = Field(default_factory=list)  # names from evaluation.autoraters; empty: all that fit


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=list)  # model ids to evaluate; empty: every policy model
    benchmarks: list[BenchmarkConfig] = Field(default_factory=list)
    autoraters: list[AutoraterConfig] = Field(default_factory=list)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    concurrency: int = Field(default=32, ge=1)  # in-flight requests per policy actor
    request_timeout_s: float = Field(default=120, gt=0)
