"""The `analysis:` section of a study config: what to compare and how the statistics are run.

    analysis:
      comparisons: [[sft, production], [base, sft]]   # empty: consecutive models within each family
      stage_comparisons: [[base, sft], [sft, production]]  # or: these stages, within every family
      headline: [sft, production]                       # the published study's comparison, per family
      equivalence_margin: 0.05                          # TOST margin, in rate units (0.05 = 5 points)
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AnalysisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Model id pairs (a, b); a comparison reports rate(b) - rate(a), "what going from a to b changed".
    # Empty: consecutive models in the study's model order (base -> sft -> production ...).
    comparisons: list[tuple[str, str]] = Field(default_factory=list)
    # Stage pairs (a, b) compared inside every model family (each model of stage a with each of stage b);
    # used when `comparisons` is empty. Empty too: consecutive models of each family in the study's order.
    stage_comparisons: list[tuple[str, str]] = Field(default_factory=list)
    # The published study's headline, SFT-only vs production, per family (report/headline.csv, with a pooled
    # estimate across families); None: no headline table. A family lacking either stage has no headline row.
    headline: tuple[str, str] | None = ("sft", "production")
    # Comparisons whose two models are of different families must be asked for (a config error otherwise).
    cross_family: bool = False
    # TOST: a pair is "equivalent" on a metric when the difference is shown to lie within +-margin.
    equivalence_margin: float = Field(default=0.10, gt=0, le=1)
    bootstrap_resamples: int = Field(default=1000, ge=100, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: int = 0
    # Holm's family: every benchmark x metric of one model pair ("pair") or of the whole study ("study").
    holm_family: Literal["pair", "study"] = "pair"
    # Report: disagreement examples per model pair x benchmark x metric, and response length shown.
    disagreement_examples: int = Field(default=10, ge=0)
    # Agent episodes (ODCV, agentic reward hacking) written out and linked, per model x agentic benchmark.
    trajectory_examples: int = Field(default=2, ge=0)
    response_chars: int = Field(default=300, ge=20)
    # W&B: graded rows logged per model in the sample table.
    wandb_sample_rows: int = Field(default=200, ge=0)

    @model_validator(mode="after")
    def _pairs_differ(self) -> "AnalysisConfig":
        for a, b in self.comparisons:
            if a == b:
                raise ValueError(f"comparisons: ({a!r}, {b!r}) compares a model with itself")
        for a, b in self.stage_comparisons + ([self.headline] if self.headline else []):
            if a == b:
                raise ValueError(f"stage_comparisons/headline: ({a!r}, {b!r}) compares a stage with itself")
        return self
