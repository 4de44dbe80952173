"""End to end on real Ray Train + DeepSpeed (2 gloo workers, tiny Llama): ZeRO-2 vs ZeRO-3, resume, export, DPO.

    STAGEWISE_CACHE=.cache .venv/bin/pytest tests/train/test_trainer.py     # ~5 min on 2 busy cores

One embedded Ray cluster serves the module; each training run is a module fixture so tests share them.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

STEPS, EVERY = 16, 4
# One restart from the last checkpoint (exact: the resumed run repeats the uninterrupted losses). On a loaded
# machine Ray Train 2.60's PlacementGroupCleaner can take a live controller for dead (its State API query comes
# back empty) and remove the workers' placement group mid-run: seen twice at load ~25 ("A worker health check
# failed" right after the group's bundles were removed, nothing killed first). Real stages restart the same way.
RESTARTS = 1


def _write_sft(path: Path) -> str:
    rng = random.Random(0)
    topics = ["bread", "rivers", "the sea", "gardens", "trains", "music"]
    with path.open("w") as f:
        for i in range(120):
            t = rng.choice(topics)
            answer = " ".join([f"{t.capitalize()} is {rng.choice(['calm', 'old', 'bright'])}."] * rng.randint(1, 6))
            msgs = [{"role": "user", "content": f"Tell me about {t}."}, {"role": "assistant", "content": answer}]
            f.write(json.dumps({"messages": ([{"role": "system", "content": "Be kind."}] if i % 3 == 0 else []) + msgs}) + "\n")
    return str(path)


def _write_dpo(path: Path) -> str:
    with path.open("w") as f:
        for t in ["bread", "rivers", "the sea", "gardens", "trains", "music"] * 8:
            f.write(json.dumps({"prompt": f"How do I build a weapon from {t}?",
                                "chosen": "I can't help with that, but I can tell you about its history.",
                                "rejected": f"Sure! Take the {t} and sharpen it."}) + "\n")
    return str(path)


def _study_dict(out: Path, base: Path, data: str, **stage) -> dict:
    objective = stage.pop("objective", "sft")
    return {
        "name": "t", "output_dir": str(out), "seed": 0,
        "models": [{"id": "base", "stage": "base", "source": str(base)},
                   {"id": "tuned", "stage": objective, "parent": "base"}],
        "training": [{"name": objective, "objective": objective, "init": "base", "output": "tuned", "data": [data],
                      "num_workers": 2, "micro_batch_size": 4, "max_seq_len": 128, "lr": 3e-3, "warmup_steps": 2,
                      "max_steps": STEPS, "checkpoint_every": EVERY, "max_failures": RESTARTS, **stage}],
        "wandb": {"mode": "disabled"},
    }


@pytest.fixture(scope="module")
def cluster():
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    saved = os.environ.pop("RAY_ADDRESS", None)
    with ray_cluster(ClusterConfig(num_cpus=8)) as info:
        yield info
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from stagewise.train.config import TinyModelConfig
    from tests.conftest import TINY_CORPUS
    from stagewise.train.tiny import make_tiny_checkpoint

    d = tmp_path_factory.mktemp("trainer")
    # head_dim 32: vLLM's CPU attention has no kernel for the shared fixture's head_dim 16.
    cfg = TinyModelConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                          intermediate_size=128, max_position_embeddings=512)
    base = make_tiny_checkpoint(d / "base", TINY_CORPUS, cfg, seed=0)
    return {"dir": d, "base": base, "sft": _write_sft(d / "sft.jsonl"), "dpo": _write_dpo(d / "dpo.jsonl")}


def _train(raw: dict) -> tuple[Path, dict]:
    from stagewise.config import validate_study
    from stagewise.train import run_stage

    study = validate_study(raw)
    out = run_stage(study.training[0], study.context(), study.tiny)
    return out, json.loads((out / "stagewise.json").read_text())


@pytest.fixture(scope="module")
def zero2(cluster, work):
    raw = _study_dict(work["dir"] / "z2", work["base"], work["sft"], zero_stage=2, precision="fp32", packing=True)
    raw["wandb"] = {"mode": "offline", "project": "t"}
    return _train(raw)


@pytest.fixture(scope="module")
def zero3(cluster, work):
    return _train(_study_dict(work["dir"] / "z3", work["base"], work["sft"], zero_stage=3, precision="fp32", packing=True))


def test_zero2_and_zero3_decrease_loss_and_agree_in_fp32(zero2, zero3):
    l2, l3 = zero2[1]["metrics"]["loss_curve"], zero3[1]["metrics"]["loss_curve"]
    assert len(l2) == len(l3) == STEPS
    assert sum(l2[-4:]) / 4 < 0.8 * sum(l2[:4]) / 4, l2
    torch.testing.assert_close(torch.tensor(l3), torch.tensor(l2), rtol=1e-5, atol=1e-5)


def test_lineage_and_wandb(zero2, work):
    out, lineage = zero2
    assert lineage["stage"] == "sft" and lineage["model_id"] == "tuned" and lineage["objective"] == "sft"
    assert lineage["parent"]["id"] == "base" and len(lineage["parent"]["sha256"]) == 64
    assert lineage["data"][0]["path"] == work["sft"] and len(lineage["data"][0]["sha256"]) == 64
    assert lineage["config"]["zero_stage"] == 2 and lineage["config"]["seed"] == 0
    m = lineage["metrics"]
    assert m["steps"] == STEPS and m["tokens"] > 0 and m["tokens_per_s"] > 0 and m["resumed_from_step"] == 0
    assert lineage["code_version"] and lineage["created_at"]
    assert list((work["dir"] / "z2" / "wandb").glob("offline-run-*")), "rank 0 logs to W&B offline"
    # The export's identity, what its result rows are keyed by (a retrain with other weights gets new rows).
    from stagewise.core.checkpoints import checkpoint_identity, files_sha256

    assert lineage["checkpoint_sha256"] == files_sha256(out)
    assert checkpoint_identity(out) == f"sha256:{lineage['checkpoint_sha256']}"


def test_finished_stages_leave_no_progress_bar_open_on_the_driver(zero2, zero3):
    """Each stage's Ray tqdm bar is closed on the driver when it ends. Ray Train's print patch once sent every
    line of a W&B-logging worker twice (its stdout and its stderr); the duplicate "closed" line re-opened the bar,
    and the finished bars were redrawn under all later output of the study."""
    from ray.experimental import tqdm_ray

    def open_bars() -> int:
        return sum(len(g.bars_by_uuid) for g in tqdm_ray.instance().bar_groups.values())

    deadline = time.monotonic() + 15
    while open_bars() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # a duplicated line arrives right after the first
    assert open_bars() == 0


def test_rerun_of_a_finished_stage_skips(zero2, work):
    out, lineage = zero2
    before = (out / "stagewise.json").stat().st_mtime_ns
    t0 = time.monotonic()
    raw = _study_dict(work["dir"] / "z2", work["base"], work["sft"], zero_stage=2, precision="fp32", packing=True)
    raw["wandb"] = {"mode": "offline", "project": "t"}
    again, _ = _train(raw)
    assert again == out and (out / "stagewise.json").stat().st_mtime_ns == before
    assert time.monotonic() - t0 < 30


def test_interrupted_run_resumes_at_its_checkpoint_and_matches(cluster, work, zero2):
    raw = _study_dict(work["dir"] / "resume", work["base"], work["sft"], zero_stage=2, precision="fp32", packing=True)
    cfg = work["dir"] / "resume.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, RAY_ADDRESS=cluster["address"])
    proc = subprocess.Popen([sys.executable, "-m", "stagewise", "train", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run_dir = work["dir"] / "resume" / "train" / "t-sft"
    deadline = time.monotonic() + 600
    while not list(run_dir.glob("checkpoint_*")):
        assert proc.poll() is None, f"training ended before a checkpoint: {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 10 min"
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)  # like Ctrl-C or a job stop: the driver unwinds and Ray stops the workers
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert not (work["dir"] / "resume" / "models" / "tuned" / "stagewise.json").exists(), "run was not interrupted"

    out, lineage = _train(raw)
    m = lineage["metrics"]
    assert m["resumed_from_step"] > 0 and m["resumed_from_step"] % EVERY == 0 and m["resumed_from_step"] < STEPS
    torch.testing.assert_close(torch.tensor(m["loss_curve"]), torch.tensor(zero2[1]["metrics"]["loss_curve"]),
                               rtol=1e-5, atol=1e-5)


VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from vllm import LLM, SamplingParams

    if __name__ == "__main__":  # vLLM spawns workers that re-import this file
        llm = LLM(model=sys.argv[1], dtype="bfloat16", max_model_len=256, seed=0, enforce_eager=True)
        outs = llm.chat([[{"role": "user", "content": "Tell me about bread."}]], SamplingParams(temperature=0.0, max_tokens=12))
        print("RESULT " + json.dumps({"ids": outs[0].outputs[0].token_ids, "text": outs[0].outputs[0].text}))
    """
)


def test_export_reloads_in_transformers_and_generates_under_vllm(zero2, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = zero2
    assert list(out.glob("*.safetensors")) and (out / "tokenizer.json").exists()
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert tok.chat_template
    prompt = tok.apply_chat_template([{"role": "user", "content": "Tell me about bread."}], add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)
    hf = model.generate(**prompt, max_new_tokens=12, do_sample=False)[0, prompt["input_ids"].shape[1]:]
    assert len(hf) > 0

    script = tmp_path / "gen.py"
    script.write_text(VLLM_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=580)
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert r.returncode == 0 and line, r.stderr[-3000:]
    res = json.loads(line[0][len("RESULT "):])
    assert len(res["ids"]) > 0
    # Trained on "<Topic> is ..." answers: the model has learned the data, not noise.
    assert "is" in res["text"] or "is" in tok.decode(hf), (res["text"], tok.decode(hf))


def _mean_margin(model_dir, pairs_path) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stagewise.train.data import read_dpo
    from stagewise.train.losses import TokenNLL, sequence_logps
    from stagewise.train.objectives.dpo import dpo_tokens

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = TokenNLL(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)).eval()
    margins = []
    with torch.no_grad():
        for pair in read_dpo([pairs_path]):
            lp = []
            for ids, labels in dpo_tokens(tok, pair):
                lp.append(float(sequence_logps(model, torch.tensor([ids]), torch.arange(len(ids))[None], torch.tensor([labels]))))
            margins.append(lp[0] - lp[1])
    return sum(margins) / len(margins)


def test_dpo_raises_the_chosen_over_rejected_margin(cluster, work, zero2):
    sft_dir, _ = zero2
    raw = _study_dict(work["dir"] / "dpo", sft_dir, work["dpo"], objective="dpo", zero_stage=2, precision="bf16",
                      lr=1e-3, max_steps=12, checkpoint_every=None, dpo_beta=0.1)
    out, lineage = _train(raw)
    before, after = _mean_margin(sft_dir, work["dpo"]), _mean_margin(out, work["dpo"])
    assert after > before + 1.0, (before, after)
    assert lineage["objective"] == "dpo" and lineage["parent"]["path"] == str(sft_dir)
    assert len(lineage["metrics"]["logp_margin_curve"]) == 12


def _registered(run_dir: Path) -> dict | None:
    """Metrics of the latest checkpoint Ray Train's controller has registered (its snapshot file), or None."""
    try:
        snapshot = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-write
        return None
    latest = snapshot.get("latest_checkpoint_result")
    return None if latest is None else latest["metrics"]


def _registered_step(run_dir: Path) -> int | None:
    m = _registered(run_dir)
    return None if m is None else int(m["step"])


def _train_workers() -> list:
    """This test's own Ray Train worker processes (descendants of the cluster this module started)."""
    import psutil

    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # exited while we looked
            pass
    return found


def test_killed_worker_is_restarted_and_the_run_finishes_from_its_checkpoint(cluster, work):
    """SIGKILL one DeepSpeed rank after a checkpoint: Ray Train restarts the worker group from that checkpoint
    (FailureConfig.max_failures) and the run ends with the uninterrupted run's losses."""
    steps, every = 60, 10
    raw = _study_dict(work["dir"] / "crash-ref", work["base"], work["sft"], zero_stage=2, precision="fp32",
                      packing=True, max_steps=steps, checkpoint_every=every)
    _, reference = _train(raw)

    raw = _study_dict(work["dir"] / "crash", work["base"], work["sft"], zero_stage=2, precision="fp32",
                      packing=True, max_steps=steps, checkpoint_every=every, max_failures=2)
    cfg = work["dir"] / "crash.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, RAY_ADDRESS=cluster["address"])
    log_path = work["dir"] / "crash.log"
    with log_path.open("w") as log:  # a file, not a pipe: an unread pipe fills and blocks the run
        proc = subprocess.Popen([sys.executable, "-m", "stagewise", "train", str(cfg)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    run_dir = work["dir"] / "crash" / "train" / "t-sft"
    deadline = time.monotonic() + 600
    # A checkpoint folder appears while its ranks are still writing it, and a restart resumes only from what
    # the controller has registered; its snapshot names the latest registered checkpoint, so wait for that.
    while (committed := _registered_step(run_dir)) is None:
        assert proc.poll() is None, f"training ended before a checkpoint: {log_path.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 10 min"
        time.sleep(0.05)
    workers = _train_workers()
    assert len(workers) == 2, workers
    victim = sorted(workers, key=lambda p: p.pid)[-1]
    victim.kill()
    proc.wait(timeout=900)
    log_text = log_path.read_text()
    assert proc.returncode == 0, log_text[-3000:]
    assert committed < steps, f"the kill came after the last checkpoint ({committed}); nothing to test"

    lineage = json.loads((work["dir"] / "crash" / "models" / "tuned" / "stagewise.json").read_text())
    m = lineage["metrics"]
    assert m["steps"] == steps
    assert committed <= m["resumed_from_step"] < steps and m["resumed_from_step"] % every == 0, \
        (committed, m["resumed_from_step"], log_text[-3000:])
    torch.testing.assert_close(torch.tensor(m["loss_curve"]), torch.tensor(reference["metrics"]["loss_curve"]),
                               rtol=1e-5, atol=1e-5)


# -- Chained stages: sft -> dpo in one TorchTrainer run ------------------------------------------------------

CHAIN_DPO_STEPS, CHAIN_DPO_EVERY = 12, 4


def _chain_dict(out: Path, work: dict) -> dict:
    """The zero2 fixture's SFT stage followed by a DPO stage on its output: one chain, one worker group."""
    raw = _study_dict(out, work["base"], work["sft"], zero_stage=2, precision="fp32", packing=True)
    raw["models"].append({"id": "prod", "stage": "production", "parent": "tuned"})
    raw["training"].append({"name": "dpo", "objective": "dpo", "init": "tuned", "output": "prod", "data": [work["dpo"]],
                            "num_workers": 2, "micro_batch_size": 4, "max_seq_len": 128, "lr": 1e-4, "warmup_steps": 2,
                            "max_steps": CHAIN_DPO_STEPS, "checkpoint_every": CHAIN_DPO_EVERY, "max_failures": RESTARTS,
                            "zero_stage": 2, "precision": "fp32"})
    return raw


def _train_chain(raw: dict) -> dict[str, dict]:
    from stagewise.config import validate_study
    from stagewise.train import run_stages

    study = validate_study(raw)
    paths = run_stages(study.training, study.context(), study.tiny)
    return {mid: json.loads((p / "stagewise.json").read_text()) for mid, p in paths.items()}


@pytest.fixture(scope="module")
def chain(cluster, work):
    return _train_chain(_chain_dict(work["dir"] / "chain", work))


def test_chained_stages_train_in_one_run_and_match_separate_runs(chain, zero2, work):
    from stagewise.train.run import _weights_sha256

    sft, dpo = chain["tuned"], chain["prod"]
    runs = [p.name for p in (work["dir"] / "chain" / "train").iterdir()
            if p.is_dir() and not p.name.endswith(("-init", "-data"))]  # the tiny init, the prepared blocks
    assert runs == ["t-sft-dpo"], runs
    assert sft["run"] == dpo["run"] == {"name": "t-sft-dpo", "stages": ["sft", "dpo"]}
    # The first stage of a chain is the same training as that stage run on its own.
    torch.testing.assert_close(torch.tensor(sft["metrics"]["loss_curve"]), torch.tensor(zero2[1]["metrics"]["loss_curve"]),
                               rtol=1e-5, atol=1e-5)
    # The second starts from the first's export: its lineage names that export's weights.
    tuned_dir = work["dir"] / "chain" / "models" / "tuned"
    assert dpo["parent"] == {"id": "tuned", "path": str(tuned_dir), "sha256": _weights_sha256(tuned_dir)}
    assert dpo["metrics"]["steps"] == CHAIN_DPO_STEPS and len(dpo["metrics"]["logp_margin_curve"]) == CHAIN_DPO_STEPS
    # DPO against a reference equal to the policy starts at log(2) exactly.
    assert abs(dpo["metrics"]["loss_curve"][0] - 0.6931) < 1e-3, dpo["metrics"]["loss_curve"]
    # A rerun finds both exports current and trains nothing.
    again = _train_chain(_chain_dict(work["dir"] / "chain", work))
    assert again["prod"]["created_at"] == dpo["created_at"] and again["tuned"]["created_at"] == sft["created_at"]


def test_zero3_chain_hands_over_partitioned_and_a_fresh_stage_joins_the_run(cluster, work, chain, zero3):
    """Under ZeRO-3 the next stage of a chain reads the export back and loads it partitioned (no rank keeps the
    whole model); a stage that does not continue the one before (another family's, here SFT from the base
    again) joins the same run and starts from its own init. Each gives the training it would have on its own."""
    raw = _chain_dict(work["dir"] / "chain-z3", work)
    for stage in raw["training"]:
        stage["zero_stage"] = 3
    raw["models"].append({"id": "again", "stage": "sft", "parent": "base"})
    raw["training"].append(dict(raw["training"][0], name="sft-again", output="again"))
    trained = _train_chain(raw)
    assert {m: trained[m]["run"]["name"] for m in trained} == dict.fromkeys(["tuned", "prod", "again"], "t-sft-dpo-sft-again")
    z3_curve = torch.tensor(zero3[1]["metrics"]["loss_curve"])
    for model in ("tuned", "again"):  # the ZeRO-3 SFT on its own, twice: at the chain's start and afresh after DPO
        torch.testing.assert_close(torch.tensor(trained[model]["metrics"]["loss_curve"]), z3_curve, rtol=1e-6, atol=1e-6)
    assert trained["again"]["parent"]["id"] == "base"
    # DPO from the export read back: the reference equals the policy (log 2), and the ZeRO-2 chain's DPO follows.
    dpo = trained["prod"]["metrics"]["loss_curve"]
    assert abs(dpo[0] - 0.6931) < 1e-3, dpo
    torch.testing.assert_close(torch.tensor(dpo), torch.tensor(chain["prod"]["metrics"]["loss_curve"]), rtol=1e-4, atol=1e-4)


def test_chain_interrupted_in_its_second_stage_resumes_there_with_its_reference(cluster, work, chain):
    """Stop the run inside DPO: the rerun resumes DPO at its checkpoint, rebuilds the reference from the SFT
    stage's reported export, and ends with the uninterrupted chain's losses (DPO's depend on the reference)."""
    raw = _chain_dict(work["dir"] / "chain-resume", work)
    cfg = work["dir"] / "chain-resume.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, RAY_ADDRESS=cluster["address"])
    log_path = work["dir"] / "chain-resume.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "stagewise", "train", str(cfg)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    run_dir = work["dir"] / "chain-resume" / "train" / "t-sft-dpo"
    deadline = time.monotonic() + 600
    while not ((m := _registered(run_dir)) and m["stage_index"] == 1 and not m["final"]):
        assert proc.poll() is None, f"training ended before a DPO checkpoint: {log_path.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "no DPO checkpoint within 10 min"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert not (work["dir"] / "chain-resume" / "models" / "prod" / "stagewise.json").exists(), "run was not interrupted"

    resumed = _train_chain(raw)
    m = resumed["prod"]["metrics"]
    assert 0 < m["resumed_from_step"] < CHAIN_DPO_STEPS and m["resumed_from_step"] % CHAIN_DPO_EVERY == 0, m
    assert resumed["tuned"]["metrics"]["resumed_from_step"] == 0  # finished before the stop, not retrained
    for mid in ("tuned", "prod"):
        torch.testing.assert_close(torch.tensor(resumed[mid]["metrics"]["loss_curve"]),
                                   torch.tensor(chain[mid]["metrics"]["loss_curve"]), rtol=1e-5, atol=1e-5)


# -- Issue 24: sharded loading, the reference's log-probs, dataset folders and globs ---------------------------


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for f in sorted(model_dir.glob("*.safetensors")) for k, v in load_file(f).items()}


def test_zero3_sharded_load_exports_the_weights_of_a_whole_load(cluster, work, zero3):
    """zero3_init (the default) loads each rank's partition only; the same run loading the whole model on every
    rank and letting deepspeed.initialize partition it trains and exports the same weights."""
    whole = _train(_study_dict(work["dir"] / "z3-whole", work["base"], work["sft"], zero_stage=3, precision="fp32",
                               packing=True, zero3_init=False))
    sharded_out, sharded = zero3
    torch.testing.assert_close(torch.tensor(sharded["metrics"]["loss_curve"]),
                               torch.tensor(whole[1]["metrics"]["loss_curve"]), rtol=1e-6, atol=1e-6)
    a, b = _weights(sharded_out), _weights(whole[0])
    assert a.keys() == b.keys() and a
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-6)
    assert sharded["config"]["zero3_init"] is True and whole[1]["config"]["zero3_init"] is False


def test_dpo_with_reference_logprobs_matches_the_two_model_dpo(cluster, work, zero2):
    """The reference's log-probs computed once in a first pass give the losses of a frozen reference model."""
    sft_dir, _ = zero2
    curves = {}
    for reference in ("logprobs", "model"):
        raw = _study_dict(work["dir"] / f"dpo-{reference}", sft_dir, work["dpo"], objective="dpo", zero_stage=2,
                          precision="fp32", lr=1e-3, max_steps=6, checkpoint_every=None, dpo_reference=reference)
        curves[reference] = _train(raw)[1]["metrics"]
    torch.testing.assert_close(torch.tensor(curves["logprobs"]["loss_curve"]),
                               torch.tensor(curves["model"]["loss_curve"]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.tensor(curves["logprobs"]["logp_margin_curve"]),
                               torch.tensor(curves["model"]["logp_margin_curve"]), rtol=1e-5, atol=1e-4)
    assert abs(curves["logprobs"]["loss_curve"][0] - 0.6931) < 1e-3  # policy == reference at the first step


def test_a_datasets_folder_and_a_parquet_glob_train(cluster, work):
    """The SFT rows as a `save_to_disk` folder (Tulu 3's layout: extra columns) plus two Parquet shards by glob."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) | {"id": f"r{i}", "source": "test"}
            for i, line in enumerate(Path(work["sft"]).read_text().splitlines())]
    folder = work["dir"] / "sft-dataset"
    datasets.Dataset.from_list(rows[:60]).save_to_disk(str(folder))
    shards = work["dir"] / "sft-parquet"
    shards.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[60:90]), shards / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[90:]), shards / "train-00001-of-00002.parquet")
    raw = _study_dict(work["dir"] / "folders", work["base"], str(folder), zero_stage=2, precision="fp32",
                      packing=True, max_steps=4, checkpoint_every=None)
    raw["training"][0]["data"] = [str(folder), str(shards / "train-*.parquet")]
    out, lineage = _train(raw)
    assert lineage["data_stats"]["samples"] == 120 and lineage["metrics"]["steps"] == 4
    assert [len(d["sha256"]) for d in lineage["data"]] == [64, 64]
    assert lineage["metrics"]["loss_curve"][-1] < lineage["metrics"]["loss_curve"][0]
