"""The embedded demo's two model families end to end through `stagewise run`, shortened, served in two waves.

    STAGEWISE_CACHE=.cache .venv/bin/pytest tests/stagewise/test_families_e2e.py     # a few minutes on 2 cores

configs/demo.yaml (the README's main command) with fewer steps and items: each family is its own lineage
(pretrain from a random init of the family's `tiny` shape -> SFT -> DPO, the family's production model), every
stage of both families trained by DeepSpeed in one Ray Train run (the second family's pretraining starts afresh
inside it); the six checkpoints are served by vLLM behind Ray Serve in two waves (`serving.max_models_per_wave:
3`, a family per wave) and evaluated by the Ray Data pipeline on the same items; the analysis compares stages
within each family only, writes the headline (SFT vs production per family, pooled across the two) and draws the
per-family figure. The demo's own timing is in BENCHMARKS.md; tests/stagewise/test_study_e2e.py kills and
resumes the one-family demo.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.csv as pacsv
import pytest

from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

FAMILIES = {"small": (96, 2), "large": (128, 2)}  # hidden size, layers: as configs/demo.yaml has them
SHORT = [f"training.{f}-{stage}.{key}={value}" for f in FAMILIES
         for stage, steps in (("pretrain", 12), ("sft", 12), ("dpo", 3))
         for key, value in (("max_steps", steps), ("checkpoint_every", 100))] + [
    "serving.max_models_per_wave=3", "evaluation.sampling.max_tokens=16", "evaluation.batch_size=4",
    "evaluation.prompts_per_request=4", "analysis.bootstrap_resamples=200", "wandb.mode=disabled",
    "evaluation.benchmarks=[{name: xstest, autoraters: [refusal-rules], limit: 8},"
    " {name: harmbench, autoraters: [refusal-rules], limit: 8}]",
]


def test_the_demos_two_families_train_serve_in_waves_and_compare_within_each_family(tmp_path):
    out = tmp_path / "study"
    # key=value on the command line, as a user shortens it: a family's stages are addressed as the study's own
    overrides = SHORT + [f"output_dir={out}", f"serving.port={free_port()}"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own embedded cluster
    env.setdefault("STAGEWISE_CACHE", str(REPO / ".cache"))
    log = tmp_path / "run.log"
    with log.open("w") as f:  # a file, not a pipe: a study prints enough to fill one and block
        proc = subprocess.run([sys.executable, "-m", "stagewise", "run", "configs/demo.yaml", *overrides], cwd=REPO,
                              env=env, stdout=f, stderr=subprocess.STDOUT, timeout=1500)
    assert proc.returncode == 0, log.read_text()[-4000:]
    models = [f"{f}-{s}" for f in FAMILIES for s in ("base", "sft", "production")]

    # Both families trained in one Ray Train run, each at its own size, lineage inside the family.
    lineages = {m: json.loads((out / "models" / m / "stagewise.json").read_text()) for m in models}
    assert {ln["run"]["name"] for ln in lineages.values()} == {
        "demo-small-pretrain-small-sft-small-dpo-large-pretrain-large-sft-large-dpo"}
    for m in models:
        config = json.loads((out / "models" / m / "config.json").read_text())
        assert (config["hidden_size"], config["num_hidden_layers"]) == FAMILIES[m.split("-")[0]]
    for family in FAMILIES:
        assert lineages[f"{family}-production"]["parent"]["id"] == f"{family}-sft"
        assert lineages[f"{family}-base"]["parent"]["id"] == "tiny"
    # Served and evaluated in two waves, a family each; every model still has every item.
    text = log.read_text()
    assert ("wave 1/2: small-base, small-sft, small-production" in text
            and "wave 2/2: large-base, large-sft, large-production" in text), text[-3000:]

    report = out / "report"
    summary = pacsv.read_csv(report / "summary.csv").to_pylist()
    assert {r["model"] for r in summary} == set(models)
    for key in {(r["benchmark"], r["metric"]) for r in summary}:  # each wave graded every item of its models
        assert len({r["n"] + r["unscored"] for r in summary if (r["benchmark"], r["metric"]) == key}) == 1, key
    comparisons = pacsv.read_csv(report / "comparisons.csv").to_pylist()
    assert {(c["model_a"], c["model_b"]) for c in comparisons} == {
        (f"{f}-{a}", f"{f}-{b}") for f in FAMILIES for a, b in (("base", "sft"), ("sft", "production"))}
    headline = pacsv.read_csv(report / "headline.csv").to_pylist()
    assert {h["family"] for h in headline} == set(FAMILIES)
    assert all(h["stage_a"] == "sft" and h["stage_b"] == "production" for h in headline)
    pooled = pacsv.read_csv(report / "headline_pooled.csv").to_pylist()
    assert pooled and all(p["families"] == "small, large" and p["k"] == 2 for p in pooled)
    assert all(p["ci_low"] <= p["diff"] <= p["ci_high"] for p in pooled)
    md = (report / "report.md").read_text()
    assert "## Headline: sft vs production, per family" in md
    assert "**small**: `small-base` → `small-sft` → `small-production`" in md
    assert (report / "figure.png").stat().st_size > 1000
