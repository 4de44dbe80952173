"""A study over two model families of different sizes, end to end through `stagewise run` on tiny models.

    STAGEWISE_CACHE=.cache .venv/bin/pytest tests/stagewise/test_families_e2e.py     # a few minutes on 2 cores

Each family is its own chain (SFT from a random init of the family's `tiny` shape -> DPO, the family's
production model) trained by DeepSpeed under Ray Train, one run per family; all four checkpoints are served by
vLLM behind one Ray Serve app and evaluated by the Ray Data pipeline on the same items; the analysis compares
stages within each family only, writes the headline (SFT vs production per family, pooled across the two) and
draws the per-family figure. Kept short: few steps, few items, no judge model.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
import yaml

from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

SMALL = {"hidden_size": 64, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 192, "num_layers": 1}
LARGE = {"hidden_size": 128, "num_heads": 4, "num_kv_heads": 2, "intermediate_size": 384, "num_layers": 2}


def _family(name: str, tiny: dict) -> dict:
    common = {"num_workers": 2, "zero_stage": 2, "precision": "fp32", "max_seq_len": 256, "checkpoint_every": 100}
    return {"name": name, "tiny": tiny,
            "models": [{"id": f"{name}-sft", "stage": "sft"},
                       {"id": f"{name}-prod", "stage": "production", "parent": f"{name}-sft"}],
            "training": [
                {"name": f"{name}-sft", "objective": "sft", "init": "tiny", "output": f"{name}-sft",
                 "data": [str(REPO / "data" / "demo" / "sft.jsonl")], "micro_batch_size": 16, "lr": 2e-3,
                 "warmup_steps": 2, "max_steps": 8, "packing": True, **common},
                {"name": f"{name}-dpo", "objective": "dpo", "init": f"{name}-sft", "output": f"{name}-prod",
                 "data": [str(REPO / "data" / "demo" / "dpo.jsonl")], "micro_batch_size": 8, "lr": 5e-6,
                 "warmup_steps": 1, "max_steps": 3, **common}]}


def test_two_families_train_serve_evaluate_and_compare_within_each_family(tmp_path):
    out = tmp_path / "study"
    study = {
        "name": "two-families", "output_dir": str(out), "seed": 0,
        "families": [_family("small", SMALL), _family("large", LARGE)],
        "serving": {"host": "127.0.0.1", "port": free_port(), "max_model_len": 512, "kv_cache_gb": 1,
                    "enforce_eager": True},
        "evaluation": {"sampling": {"temperature": 0.0, "max_tokens": 16}, "batch_size": 4, "prompts_per_request": 4,
                       "autoraters": [{"name": "refusal-rules", "kind": "rules"}],
                       "benchmarks": [{"name": "xstest", "limit": 8}, {"name": "harmbench", "limit": 8}]},
        "analysis": {"bootstrap_resamples": 200},
        "wandb": {"mode": "disabled"},
    }
    cfg = tmp_path / "study.yaml"
    cfg.write_text("# stagewise run study.yaml\n" + yaml.safe_dump(study))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own embedded cluster
    env.setdefault("STAGEWISE_CACHE", str(REPO / ".cache"))
    log = tmp_path / "run.log"
    with log.open("w") as f:  # a file, not a pipe: a study prints enough to fill one and block
        proc = subprocess.run([sys.executable, "-m", "stagewise", "run", str(cfg)], cwd=REPO, env=env, stdout=f,
                              stderr=subprocess.STDOUT, timeout=1500)
    assert proc.returncode == 0, log.read_text()[-4000:]

    # Each family trained its own chain at its own size, lineage inside the family.
    for family, tiny in (("small", SMALL), ("large", LARGE)):
        for model in (f"{family}-sft", f"{family}-prod"):
            config = json.loads((out / "models" / model / "config.json").read_text())
            assert (config["hidden_size"], config["num_hidden_layers"]) == (tiny["hidden_size"], tiny["num_layers"])
        lineage = json.loads((out / "models" / f"{family}-prod" / "stagewise.json").read_text())
        assert lineage["parent"]["id"] == f"{family}-sft"

    report = out / "report"
    summary = pacsv.read_csv(report / "summary.csv").to_pylist()
    assert {r["model"] for r in summary} == {"small-sft", "small-prod", "large-sft", "large-prod"}
    comparisons = pacsv.read_csv(report / "comparisons.csv").to_pylist()
    assert {(c["model_a"], c["model_b"]) for c in comparisons} == {("small-sft", "small-prod"),
                                                                   ("large-sft", "large-prod")}
    headline = pacsv.read_csv(report / "headline.csv").to_pylist()
    assert {h["family"] for h in headline} == {"small", "large"}
    assert all(h["stage_a"] == "sft" and h["stage_b"] == "production" for h in headline)
    pooled = pacsv.read_csv(report / "headline_pooled.csv").to_pylist()
    assert pooled and all(p["families"] == "small, large" and p["k"] == 2 for p in pooled)
    assert all(p["ci_low"] <= p["diff"] <= p["ci_high"] for p in pooled)
    md = (report / "report.md").read_text()
    assert "## Headline: sft vs production, per family" in md and "**small**: `small-sft` → `small-prod`" in md
    assert (report / "figure.png").stat().st_size > 1000
