"""Evaluation: the `evaluation:` section of a study config.

    evaluation:
      sampling: {temperature: 0.0, max_tokens: 64}
      autoraters:
        - {name: refusal-rules, kind: rules}
        - {name: xstest-judge, kind: llm_judge, judge_model: judge}
        - {name: harmbench-judge, kind: llm_judge, judge_model: harmbench-cls, mode: completion}   # as published
      benchmarks:
        - {name: xstest, path: data/xstest_prompts.csv, autoraters: [refusal-rules, xstest-judge]}
        - {name: harmbench}            # the embedded set, graded by every listed autorater that fits it

Names of benchmarks and autoraters are checked against the registry (evaluate/registry.py) when the
evaluation starts, so this module stays import-light.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=64, ge=1)
    seed: int | None = None  # None: the study seed; sample i of an item is drawn with seed + i


class AutoraterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # a registered autorater, e.g. "refusal-rules", "xstest-judge"
    kind: Literal["rules", "llm_judge"] = "rules"
    # Served model id, for llm_judge; several comma-separated ("judge-a,judge-b"): a judge that takes their median
    # (odcv-judge). `judge_models` is the list.
    judge_model: str | None = None
    max_retries: int = Field(default=2, ge=0)  # re-asks of an unparseable judge answer before `unscored`
    # chat: the judge's prompt as chat messages (the model's chat template applies). completion: one raw prompt
    # string to /v1/completions, as a classifier trained on its own format expects (HarmBench's classifier).
    mode: Literal["chat", "completion"] = "chat"
    # completion mode: a raw template with {prompt} and {response} (and the judge's own fields, e.g. HarmBench's
    # {behavior} {context} {generation}); None: the judge's published raw form
    template: str | None = None

    @model_validator(mode="after")
    def _judge_named(self) -> "AutoraterConfig":
        if self.kind == "llm_judge" and not self.judge_model:
            raise ValueError(f"autorater {self.name}: judge_model is required for kind llm_judge")
        if self.kind != "llm_judge" and (self.mode != "chat" or self.template is not None):
            raise ValueError(f"autorater {self.name}: mode and template are for kind llm_judge")
        if self.template is not None and self.mode != "completion":
            raise ValueError(f"autorater {self.name}: template is the raw prompt of mode completion")
        return self

    @property
    def judge_models(self) -> list[str]:
        """The served model ids this autorater asks (empty for rules)."""
        if self.kind != "llm_judge" or not self.judge_model:
            return []
        return [j.strip() for j in self.judge_model.split(",") if j.strip()]


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
    autoraters: list[AutoraterConfig] = Field(default_factory=list)  # empty: refusal-rules
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    # completions: render chat templates here and send lists of token-id prompts per request (fast);
    # chat: one /chat/completions request per conversation (when the model's tokenizer is not at hand).
    endpoint: Literal["completions", "chat"] = "completions"
    prompts_per_request: int = Field(default=32, ge=1)  # for endpoint=completions
    concurrency: int = Field(default=32, ge=1)  # in-flight requests per actor
    request_timeout_s: float = Field(default=120, gt=0)
    batch_size: int = Field(default=64, ge=1)  # rows per Ray Data batch (and per store file)
    policy_actors: int = Field(default=2, ge=1)
    grader_actors: int = Field(default=1, ge=1)
    # Fractional CPUs per actor: actors holding whole CPUs starve Ray Data's own tasks on small machines.
    actor_num_cpus: float = Field(default=0.25, gt=0)
    wandb_table_rows: int = Field(default=200, ge=0)  # graded samples logged per model x benchmark
