"""The embedded study end to end through `stagewise run`, killed midway through evaluation and rerun.

    STAGEWISE_CACHE=.cache .venv/bin/pytest tests/stagewise/test_study_e2e.py     # ~10 min on 2 cores

configs/demo-one-family.yaml (the README's demo with one model family; both families run end to end in
tests/stagewise/test_families_e2e.py), shortened (fewer steps and items, eager vLLM) but otherwise as the README's
main command runs it: pretrain -> SFT -> DPO on Ray Train + DeepSpeed, three models behind one Serve app, every
benchmark through the Ray Data pipeline, then the report. The run is SIGKILLed (with every process it started) once
graded rows are landing; the rerun must skip training, finish the evaluation with zero duplicate and zero
missing keys, and write the same report as an uninterrupted evaluation of the same checkpoints.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from stagewise.config import apply_override, read_yaml
from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]

SHORT = [
    "training.pretrain.max_steps=30", "training.sft.max_steps=30", "training.dpo.max_steps=8",
    "training.pretrain.checkpoint_every=10", "training.sft.checkpoint_every=10", "training.dpo.checkpoint_every=4",
    "serving.enforce_eager=true", "evaluation.batch_size=4", "evaluation.prompts_per_request=4",
    "evaluation.sampling.max_tokens=24",
] + [f"evaluation.benchmarks.{b}.limit=6"
     for b in ("xstest", "or-bench", "harmbench", "strongreject", "dilemmas", "reward-hacking")]


def _config(tmp: Path, name: str, extra: list[str]) -> Path:
    raw = read_yaml(REPO / "configs" / "demo-one-family.yaml")
    for ov in SHORT + [f"output_dir={tmp / name}", f"serving.port={free_port()}"] + extra:
        apply_override(raw, ov)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # each run starts its own cluster
    env.setdefault("STAGEWISE_CACHE", str(REPO / ".cache"))
    return env


def _run(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stagewise", "run", str(cfg)], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=1500)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the run and every process under it (its Ray cluster, engines): a crash, not a shutdown."""
    import psutil

    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    proc.kill()
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(tree, timeout=30)


def _grades(out: Path) -> list[dict]:
    return ds.dataset(out / "results" / "grades", format="parquet", partitioning="hive").to_table().to_pylist()


def _csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    cfg = _config(tmp, "demo", [])
    out = tmp / "demo"
    log = (tmp / "killed.log").open("w")  # a file, not a pipe: nobody reads a pipe while we wait, and it fills
    proc = subprocess.Popen([sys.executable, "-m", "stagewise", "run", str(cfg)], cwd=REPO, env=_env(),
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    grades_dir = out / "results" / "grades"
    deadline = time.monotonic() + 1500
    try:
        while len(list(grades_dir.glob("model=*/benchmark=*/*.parquet"))) < 3:
            assert proc.poll() is None, f"the study ended before it could be killed: {(tmp / 'killed.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no graded rows within 25 min"
            time.sleep(0.2)
    finally:
        _kill_tree(proc)
        log.close()
    partial = len(_grades(out))
    assert not (out / "report" / "summary.csv").exists(), "the study was not interrupted"

    start = time.monotonic()
    resumed = _run(cfg)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return {"tmp": tmp, "out": out, "partial": partial, "stdout": resumed.stdout, "rerun_s": time.monotonic() - start}


def test_the_study_writes_its_output_contract(killed_and_resumed):
    out = killed_and_resumed["out"]
    for model in ("base", "sft", "production"):
        assert (out / "models" / model / "stagewise.json").is_file()
        assert list((out / "models" / model).glob("*.safetensors"))
    summary = _csv(out / "report" / "summary.csv")
    assert list(summary[0])[:10] == ["model", "stage", "benchmark", "metric", "rate", "n", "unscored", "ci_low",
                                     "ci_high", "method"]
    assert {r["model"] for r in summary} == {"base", "sft", "production"}
    assert {r["benchmark"] for r in summary} == {"xstest", "or-bench", "harmbench", "strongreject", "dilemmas",
                                                 "reward-hacking"}
    comparisons = _csv(out / "report" / "comparisons.csv")
    assert list(comparisons[0])[:10] == ["model_a", "model_b", "benchmark", "metric", "diff", "ci_low", "ci_high",
                                         "p_value", "p_holm", "equivalent"]
    assert (out / "report" / "figure.png").stat().st_size > 1000 and (out / "report" / "report.md").is_file()
    leakage = _csv(out / "report" / "leakage.csv")  # every evaluated item against all the training data
    assert {r["benchmark"] for r in leakage} == {r["benchmark"] for r in summary}
    assert "leakage: harmbench:" in (out / "report" / "report.md").read_text()
    assert list((out / "wandb").glob("**/offline-run-*")), "offline W&B runs"
    # The rerun skipped training (the exports are current) and printed its per-step wall times.
    assert "wall time per step" in killed_and_resumed["stdout"]


def test_rerun_after_a_kill_equals_an_uninterrupted_evaluation(killed_and_resumed):
    tmp, out = killed_and_resumed["tmp"], killed_and_resumed["out"]
    # The same checkpoints, evaluated and analysed in one go: models given as sources, no training.
    sources = [f"models.{m}.source={out / 'models' / m}" for m in ("base", "sft", "production")]
    clean_cfg = _config(tmp, "clean", ["training=[]", "wandb.mode=disabled", *sources])
    clean = _run(clean_cfg)
    assert clean.returncode == 0, clean.stderr[-4000:]

    resumed, uninterrupted = _grades(out), _grades(tmp / "clean")
    keys = [r["key"] for r in resumed]
    assert 0 < killed_and_resumed["partial"] < len(keys)
    assert len(keys) == len(set(keys)), "duplicate keys in the resumed store"
    assert set(keys) == {r["key"] for r in uninterrupted}, "missing or extra keys"

    def outcome(rows):
        return {r["key"]: (r["response"], r["label"], r["unscored"], tuple((m["name"], m["value"]) for m in r["metrics"]))
                for r in rows}

    a, b = outcome(resumed), outcome(uninterrupted)
    assert [k for k in a if a[k] != b[k]] == []
    for name in ("summary.csv", "comparisons.csv"):
        assert _csv(out / "report" / name) == _csv(tmp / "clean" / "report" / name), f"{name} differs"
