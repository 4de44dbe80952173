"""`ray job submit` against a live local cluster started with `ray start --head`, exactly as a user would.

    .venv/bin/pytest tests/cluster/test_job_submit.py -m slow

Starts its own head node (free ports, its own --temp-dir), submits the study command from the repo root
with `--working-dir . --runtime-env cluster/runtime_env.yaml`, waits for SUCCEEDED, checks the study's
outputs, and stops only the processes of the cluster it started (never `ray stop`: that would kill every
Ray process on the machine).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cluster.nodes import cluster_processes, stop_processes
from tests.conftest import REPO, free_port

RAY = str(Path(sys.executable).parent / "ray")
# The one-family demo: these tests are about where a study runs (a job, a small head, lost or added nodes), not
# about families, and its three engines keep them short.
DEMO = "configs/demo-one-family.yaml"

# The smallest study `stagewise run` accepts: one tiny model pretrained for two steps. Lists are replaced
# whole by an override, so the demo's three stages become one.
TINY_STUDY = [
    "models=[{id: base, stage: base}]",
    "training=[{name: pretrain, objective: pretrain, init: tiny, output: base, data: [data/demo/pretrain.txt],"
    " num_workers: 1, micro_batch_size: 4, max_steps: 2, max_seq_len: 64, packing: true, lr: 1.0e-3}]",
    "tiny.vocab_size=512",
    "tiny.hidden_size=32",
    "tiny.num_heads=1",  # head dim 32: the smallest vLLM's CPU attention has
    "tiny.num_kv_heads=1",
    "tiny.intermediate_size=64",
    "tiny.num_layers=1",
    "wandb.mode=disabled",
]


def _stop_cluster(temp_dir: str) -> None:
    stop_processes(cluster_processes(temp_dir))


def _start_head(env: dict[str, str], num_cpus: int = 8) -> tuple[str, str]:
    """`ray start --head` in a temp dir of its own; (temp dir, dashboard address). Raises on failure."""
    # Short root: Ray's unix sockets live under it and a socket path may not exceed 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="swjob", dir="/tmp")
    dashboard = free_port()
    # Every port explicit and free: other Ray clusters share this machine.
    ports = {
        "--port": free_port(), "--dashboard-port": dashboard, "--node-manager-port": free_port(),
        "--object-manager-port": free_port(), "--ray-client-server-port": free_port(),
        "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port(),
    }
    cmd = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
           "--include-dashboard=true", f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
           *(f"{k}={v}" for k, v in ports.items())]
    try:
        subprocess.run(cmd, env=env, check=True, timeout=300, capture_output=True, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        _stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return temp_dir, f"http://127.0.0.1:{dashboard}"


@pytest.fixture
def local_head():
    """A Ray head node of our own; yields its dashboard (job API) address and the clients' environment."""
    yield from _head(num_cpus=8)


@pytest.fixture
def small_head():
    """The head a new user started with `--num-cpus=4` (issue 24's report) instead of jobs.md's 8."""
    yield from _head(num_cpus=4)


def _head(num_cpus: int):
    from stagewise.cluster.env import cpu_runtime_env

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # The node's environment reaches every worker: the CPU switches the embedded cluster would set.
    env.update(cpu_runtime_env())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `stagewise` for the job
    # Ray 2.60 turns token auth on for clusters started here; give ours its own token (not ~/.ray/auth_token)
    # and hand it to every client through the environment, as a user would export it.
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    # The raylet gives the dashboard agent a hard-coded 15 s to write its port file (ray-project/ray#65983);
    # on a loaded 2-core machine that start-up race is lost now and then, so a failed start is retried.
    errors = []
    for _ in range(3):
        try:
            temp_dir, address = _start_head(env, num_cpus)
            break
        except subprocess.CalledProcessError as e:
            errors.append(e.stderr[-1500:])
        except subprocess.TimeoutExpired:
            errors.append("ray start timed out")
    else:
        pytest.fail("ray start failed 3 times:\n" + "\n---\n".join(errors))
    try:
        yield address, env
    finally:
        _stop_cluster(temp_dir)
    assert not cluster_processes(temp_dir), "the cluster we started left processes behind"
    shutil.rmtree(temp_dir, ignore_errors=True)


def _submit(address: str, env: dict[str, str], args: list[str]) -> str:
    submission_id = f"stagewise-test-{os.getpid()}-{int(time.time())}"
    submit = [RAY, "job", "submit", "--address", address, "--working-dir", ".",
              "--runtime-env", "cluster/runtime_env.yaml", "--submission-id", submission_id, "--no-wait", "--",
              *args]  # `ray job submit` shell-quotes each argument itself
    done = subprocess.run(submit, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return submission_id


def _job_info(address: str, submission_id: str, env: dict[str, str]) -> dict:
    """The job's status, runtime env and log tail, read by Ray's SDK in a process that has the cluster's token
    (this test process keeps no auth state that later tests' embedded clusters could trip over)."""
    script = (
        "import json, sys; from ray.job_submission import JobSubmissionClient as C\n"
        "c = C(sys.argv[1]); i = c.get_job_info(sys.argv[2])\n"
        "print(json.dumps({'status': str(i.status.value), 'runtime_env': i.runtime_env,"
        " 'logs': c.get_job_logs(sys.argv[2])[-5000:]}))"
    )
    done = subprocess.run([sys.executable, "-c", script, address, submission_id], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ray_job_submit_runs_a_study(local_head, tmp_path):
    address, env = local_head
    out = tmp_path / "study"
    submission_id = _submit(address, env, ["stagewise", "run", DEMO, f"output_dir={out}", *TINY_STUDY,
                                           "--until", "train"])

    deadline = time.monotonic() + 1000
    info = _job_info(address, submission_id, env)
    while info["status"] not in {"SUCCEEDED", "FAILED", "STOPPED"} and time.monotonic() < deadline:
        time.sleep(10)
        info = _job_info(address, submission_id, env)
    assert info["status"] == "SUCCEEDED", f"job {info['status']}:\n{info['logs']}"

    # The study's outputs: its resolved config and the trained model's HF dir with lineage.
    assert (out / "study.yaml").is_file()
    model = out / "models" / "base"
    assert (model / "config.json").is_file()
    assert any(model.glob("*.safetensors"))
    lineage = json.loads((model / "stagewise.json").read_text())
    assert lineage["model_id"] == "base" and lineage["objective"] == "pretrain"
    # The job ran the uploaded checkout (Ray's working_dir) with the shipped runtime env, not the repo in place.
    assert info["runtime_env"]["working_dir"].startswith("gcs://")
    assert ".venv/" in info["runtime_env"]["excludes"]


# The demo's three models, stages and benchmarks, with a few steps each: issue 24's path is everything after
# training (three engines, then evaluation) on a small head, not the training itself.
SHORT_DEMO = [
    "training.pretrain.max_steps=4", "training.sft.max_steps=4", "training.dpo.max_steps=2",
    "training.pretrain.checkpoint_every=100", "training.sft.checkpoint_every=100", "training.dpo.checkpoint_every=100",
    "evaluation.benchmarks=[{name: xstest, autoraters: [refusal-rules], limit: 8},"
    " {name: harmbench, autoraters: [refusal-rules], limit: 8}]",
    "wandb.mode=disabled",
]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_whole_demo_runs_as_a_job_on_a_4_cpu_head(small_head, tmp_path):
    """Issue 24: on `ray start --num-cpus=4` the demo trained, started its three engines, then waited at
    `== eval` forever (Serve's router held the last free CPU; Ray Data's from_arrow needs a whole one for its block
    tasks before the eval actors start). Now it runs to its report,
    or fails in seconds naming the shortfall; it never sits waiting."""
    address, env = small_head
    out = tmp_path / "study"
    submission_id = _submit(address, env, ["stagewise", "run", DEMO, f"output_dir={out}", *SHORT_DEMO])
    deadline = time.monotonic() + 2000
    info = _job_info(address, submission_id, env)
    while info["status"] not in {"SUCCEEDED", "FAILED", "STOPPED"} and time.monotonic() < deadline:
        time.sleep(10)
        info = _job_info(address, submission_id, env)
    assert info["status"] == "SUCCEEDED", f"job {info['status']}:\n{info['logs']}"
    assert (out / "report" / "summary.csv").is_file()
    timings = json.loads((out / "report" / "timings.json").read_text())
    assert {"train", "serve:start", "eval", "analyze"} <= set(timings), timings
    assert any((out / "results" / "grades").rglob("*.parquet")), "evaluation stored no graded rows"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_study_that_cannot_be_placed_fails_in_seconds(small_head, tmp_path):
    """Three engines of 1.5 CPUs cannot sit beside evaluation on 4 CPUs: refused before any training, one line."""
    address, env = small_head
    start = time.monotonic()
    submission_id = _submit(address, env, ["stagewise", "run", DEMO, f"output_dir={tmp_path / 's'}",
                                           "serving.cpus_per_replica=1.5", "wandb.mode=disabled"])
    info = _job_info(address, submission_id, env)
    while info["status"] not in {"SUCCEEDED", "FAILED", "STOPPED"} and time.monotonic() - start < 300:
        time.sleep(3)
        info = _job_info(address, submission_id, env)
    assert info["status"] == "FAILED", info["logs"]
    assert ("error: cluster: serving + evaluation needs 5 CPU (serving.base: 1 engine replica x {1.5 CPU}; "
            in info["logs"]), info["logs"]
    assert "but 4 CPU is free on 1 node(s); no autoscaler adds nodes" in info["logs"]
    assert "== train" not in info["logs"]
