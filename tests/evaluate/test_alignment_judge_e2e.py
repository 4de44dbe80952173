"""The misalignment judge end to end: a tiny model fine-tuned here to answer in the verdict format is served as
the judge, and its verdicts become a rate with n and CI in the analysis of the real store.

    .venv/bin/pytest tests/evaluate/test_alignment_judge_e2e.py -x      # ~3 min on 2 cores

A random model never writes a verdict, which proves only the unscored path (test_alignment_e2e.py). Here the
judge is trained in the test: DeepSpeed SFT (Ray Train, 2 gloo workers) on the judge's own prompts for
embedded dilemma items with scripted replies, answered `VERDICT: ALIGNED|MISALIGNED` by which letter the
reply named. It is then served by vLLM behind Ray Serve and grades through `run_evaluation` (Ray
Data, the judge's retry-then-unscored path, the store) and `analyze_store`. One engine on 2 cores: the judge
is also the policy whose dilemma answers it grades (what the policy says does not matter here; that the
judge's verdict parses and reaches the report does).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import TINY_CORPUS, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

N_ITEMS = 8  # dilemma items evaluated (4 scenarios, both option orders)
STEPS = 120  # ~4 epochs of the 220 chats at 0.2 s a step: 30 steps (loss 2.1) left it copying the reply instead


def judge_training_rows() -> list[dict]:
    """Chats of (the misalignment judge's prompt, its verdict) for scripted replies to the embedded dilemmas:
    a reply naming the aligned letter is ALIGNED, the other MISALIGNED. The first N_ITEMS items are left out,
    so the served judge grades prompts it was not trained on."""
    from stagewise.evaluate.autoraters.alignment_judge import MisalignmentJudge
    from stagewise.evaluate.registry import get_benchmark

    judge = MisalignmentJudge(judge_model="judge")
    rows = []
    for item in get_benchmark("dilemmas").load(None)[N_ITEMS:]:
        aligned = json.loads(item["metadata"])["aligned_option"]
        for letter in ("A", "B"):
            reply = f"DECISION: {letter}\nThat is the right call here."
            verdict = "ALIGNED" if letter == aligned else "MISALIGNED"
            prompt = judge.prompt({**item, "response": reply})
            rows.append({"messages": prompt + [{"role": "assistant", "content": f"VERDICT: {verdict}"}]})
    return rows


@pytest.fixture(scope="module")
def trained_judge(tmp_path_factory):
    """(study dict, trained checkpoint dir): the judge SFT'd with DeepSpeed for STEPS steps from a tiny base."""
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.config import validate_study
    from stagewise.train import run_stage
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.tiny import make_tiny_checkpoint

    work = tmp_path_factory.mktemp("judge-e2e")
    rows = judge_training_rows()
    data = work / "judge_sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # The tokenizer learns the judge's prompts too, so a prompt is under 400 tokens (~800 with a tokenizer of
    # the shared corpus alone); head_dim 32 is the smallest vLLM's CPU attention runs.
    cfg = TinyModelConfig(vocab_size=1024, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                          intermediate_size=128, max_position_embeddings=1024)
    texts = TINY_CORPUS + [m["content"] for r in rows[::4] for m in r["messages"]]
    base = make_tiny_checkpoint(work / "base", texts, cfg, seed=0)
    study = {
        "name": "judgetest", "output_dir": str(work / "run"), "seed": 0,
        "models": [{"id": "base", "stage": "base", "source": str(base)},
                   {"id": "judge", "stage": "sft", "parent": "base"}],
        "training": [{"name": "sft", "objective": "sft", "init": "base", "output": "judge", "data": [str(data)],
                      "num_workers": 2, "zero_stage": 2, "precision": "fp32", "micro_batch_size": 4,
                      "max_seq_len": 512, "lr": 5e-3, "warmup_steps": 5, "max_steps": STEPS,
                      "checkpoint_every": STEPS, "max_failures": 0}],
        "serving": {"max_model_len": 1024, "kv_cache_gb": 1},
        "evaluation": {
            "models": ["judge"],
            "sampling": {"temperature": 0.0, "max_tokens": 24},
            "autoraters": [{"name": "misalignment-judge", "kind": "llm_judge", "judge_model": "judge", "max_retries": 1}],
            "benchmarks": [{"name": "dilemmas", "limit": N_ITEMS}],  # the embedded Petri-seed set
            "batch_size": 4, "prompts_per_request": 4,
        },
        "wandb": {"mode": "disabled"},
    }
    saved = os.environ.pop("RAY_ADDRESS", None)
    try:
        with ray_cluster(ClusterConfig(num_cpus=8)) as info:
            parsed = validate_study(study)
            out = run_stage(parsed.training[0], parsed.context(), parsed.tiny)
            yield parsed, out, info
    finally:
        if saved is not None:
            os.environ["RAY_ADDRESS"] = saved


def test_served_fine_tuned_judge_gives_parseable_verdicts_and_a_rate(trained_judge):
    from stagewise.analysis.analyze import analyze_store
    from stagewise.evaluate import run_evaluation
    from stagewise.evaluate.autoraters.alignment_judge import MisalignmentJudge, parse_verdict, MISALIGNMENT_VALUES
    from stagewise.serve.app import start_app
    from stagewise.serve.config import ServeConfig

    study, judge_dir, _ = trained_judge
    lineage = json.loads((judge_dir / "stagewise.json").read_text())
    assert lineage["stage"] == "sft"
    serve_cfg = ServeConfig(port=free_port(), max_model_len=1024, kv_cache_gb=1, app_name="judgetest",
                            ready_timeout_s=1200)
    app = start_app({"judge": str(judge_dir)}, serve_cfg)
    results = run_evaluation(study.evaluation, study.context(), app, progress=False)

    rows = ds.dataset(results / "grades", format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(rows) == N_ITEMS and {r["autorater"] for r in rows} == {"misalignment-judge"}
    assert {r["autorater_version"] for r in rows} == {MisalignmentJudge(judge_model="judge").version}
    scored = [r for r in rows if not r["unscored"]]
    # The fine-tuned judge answers in the verdict format: its text parses under the published rules.
    assert len(scored) >= N_ITEMS - 1, [r["raw_judgement"] for r in rows]
    for r in scored:
        raw = json.loads(r["raw_judgement"])
        assert parse_verdict(raw["judgement"], MISALIGNMENT_VALUES) is (r["label"] == "misaligned")
        assert raw["judgement"].lstrip().upper().startswith("VERDICT:")
        assert r["label"] in ("aligned", "misaligned")

    out = analyze_store(results, Path(study.output_dir) / "report")
    [rate] = [r for r in out.statistics.summary.to_pylist()
              if r["benchmark"] == "dilemmas" and r["metric"] == "misaligned" and r["autorater"] == "misalignment-judge"]
    non_degenerate = [r for r in scored if "misaligned" in [m["name"] for m in r["metrics"]]]
    assert rate["n"] == len(non_degenerate) > 0
    expected = sum(r["label"] == "misaligned" for r in non_degenerate) / len(non_degenerate)
    assert rate["rate"] == pytest.approx(expected)
    assert rate["ci_low"] <= rate["rate"] <= rate["ci_high"] and rate["method"]
    assert "embedded" in rate["source"]
