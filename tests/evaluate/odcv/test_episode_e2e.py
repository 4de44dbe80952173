"""End to end: ODCV episodes of a served tiny model through the real pipeline, killed and resumed.

    .venv/bin/pytest tests/evaluate/odcv/test_episode_e2e.py -x

One embedded Ray cluster and one Serve app (vLLM CPU). The tiny model has no tool-call parser behind it, so the
server refuses `tools` and every episode falls back to the text protocol; a random model never writes a valid
block, so each turn gets the protocol reminder until the step limit or the context runs out. Episodes run in the
real bubblewrap machine (evaluate/odcv/machine.py) laid out from the embedded scenarios. The judge (the same tiny
model) cannot read a transcript that long: its rows are unscored, never a pass or a fail.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from tests.conftest import REPO, TINY_CORPUS, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
EPISODES = 8  # 4 items (2 scenario names x 2 variants) x 2 samples


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.serve.app import start_app
    from stagewise.serve.config import ServeConfig
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.tiny import make_tiny_checkpoint

    cfg = TinyModelConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                          intermediate_size=128, max_position_embeddings=2048)
    model = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny2k") / "model", TINY_CORPUS, cfg, seed=0)
    serve = ServeConfig(port=free_port(), max_model_len=2048, kv_cache_gb=1, app_name="odcvtest", ready_timeout_s=900)
    old = os.environ.pop("RAY_ADDRESS", None)
    try:
        with ray_cluster(ClusterConfig(num_cpus=8)) as info:
            yield start_app({"tiny": str(model)}, serve), info["address"], serve.port, model
    finally:
        if old is not None:
            os.environ["RAY_ADDRESS"] = old


def rows(out: Path, kind: str) -> list[dict]:
    path = out / "results" / kind
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist() if path.is_dir() else []


def test_episodes_stored_killed_and_resumed(tmp_path, served):
    from stagewise.evaluate.sandbox import require_bubblewrap
    from stagewise.evaluate.schema import generation_key

    require_bubblewrap()  # the machine needs it: fail loudly rather than skip
    app, address, port, model = served
    study = {
        "name": "odcvtest", "output_dir": str(tmp_path / "run"),
        "models": [{"id": "tiny", "stage": "sft", "source": str(model)}],
        "serving": {"port": port, "max_model_len": 2048, "kv_cache_gb": 1},
        "evaluation": {
            "sampling": {"temperature": 0.0, "max_tokens": 24},
            "autoraters": [{"name": "odcv-judge", "kind": "llm_judge", "judge_model": "tiny", "max_retries": 0}],
            "benchmarks": [{"name": "odcv", "limit": 4, "samples": 2}],
        },
        "wandb": {"mode": "disabled"},
    }
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    env = {**os.environ, "RAY_ADDRESS": address, "STAGEWISE_CACHE": os.environ.get("STAGEWISE_CACHE", str(REPO / ".cache"))}
    cmd = [sys.executable, "-m", "stagewise.cli", "eval", str(config), "--endpoint", app.base_url]
    log = (tmp_path / "killed.log").open("w")
    killed = subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    grades_dir = tmp_path / "run" / "results" / "grades"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and killed.poll() is None:
        if list(grades_dir.glob("model=*/benchmark=*/*.parquet")):
            break
        time.sleep(0.1)
    assert killed.poll() is None, f"eval ended before it was killed: {(tmp_path / 'killed.log').read_text()[-3000:]}"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    before = {generation_key(r): r["created_at"] for r in rows(tmp_path / "run", "generations")}
    assert 0 < len(rows(tmp_path / "run", "grades")) < EPISODES and len(before) > 0

    r = subprocess.run(cmd, env=env, cwd=REPO, stdout=(tmp_path / "resumed.log").open("w"), stderr=subprocess.STDOUT,
                       timeout=600)
    assert r.returncode == 0, (tmp_path / "resumed.log").read_text()[-3000:]
    graded = rows(tmp_path / "run", "grades")
    generations = rows(tmp_path / "run", "generations")
    assert len(graded) == len({g["key"] for g in graded}) == EPISODES
    assert len(generations) == EPISODES
    # Resume did not redo a finished episode: its generation row is the one the killed run wrote.
    after = {generation_key(g): g["created_at"] for g in generations}
    assert all(after[k] == t for k, t in before.items())

    for g in graded:
        assert g["benchmark"] == "odcv" and g["item_id"] == f"{g['group']}/{g['split']}"
        episode = json.loads(g["response"])
        assert episode["format"].startswith("stagewise-odcv-trajectory") and episode["protocol"] == "text"
        assert episode["ended"] == g["finish_reason"] in ("task_complete", "step_limit", "context_limit")
        assert 1 <= episode["steps"] <= 50 and episode["messages"][0]["role"] == "system"
        assert "task_complete" in episode["messages"][0]["content"]  # the tool sentence and the text protocol
        assert isinstance(episode["changed_files"], list)
        if episode["ended"] == "step_limit":
            assert episode["steps"] == 50
        # A random model writes no valid tool block: every turn was a protocol error, answered with the reminder.
        if not any(a["tool"] for a in episode["actions"]):
            assert g["unscored"] or [m["name"] for m in g["metrics"]] == ["degenerate"]
        assert g["unscored"] or g["score"] is not None
    # Samples of one item differ only by seed; the same row key never appears twice.
    assert {(g["item_id"], g["sample_idx"]) for g in graded} == {(i, s) for i in {g["item_id"] for g in graded}
                                                                  for s in (0, 1)}
