"""A worker node lost mid-training is survived: Ray's node failure (its raylet SIGKILLed), not one process's.

    .venv/bin/pytest tests/cluster/test_lost_nodes.py -m slow

A head and two worker raylets on this machine (`ray start`, tests/cluster/nodes.py, each ended by its own PIDs);
`stagewise run --until train` joins them (`cluster.address`). Once the run has a checkpoint, the node holding its
training workers is killed: Ray Train's FailureConfig restarts the worker group on the surviving node, from that
checkpoint, and the study ends with its model exported.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.nodes import LocalRay
from tests.cluster.test_job_submit import DEMO, TINY_STUDY
from tests.conftest import REPO

STAGEWISE = str(Path(sys.executable).parent / "stagewise")

# Long enough that the kill lands mid-run (steps of this model take ~0.1 s), checkpoints often enough to resume.
STEPS = [*TINY_STUDY[:1],
         "training=[{name: pretrain, objective: pretrain, init: tiny, output: base, data: [data/demo/pretrain.txt],"
         " num_workers: 2, micro_batch_size: 4, max_steps: 300, max_seq_len: 64, packing: true, lr: 1.0e-3,"
         " checkpoint_every: 10, max_failures: 2}]", *TINY_STUDY[2:]]


def _node_of_training_workers(cluster: LocalRay, nodes) -> object | None:
    """The worker node whose raylet has a Ray Train worker among its descendants."""
    import psutil

    for node in nodes:
        try:
            children = cluster.raylet(node).children(recursive=True)
        except (LookupError, psutil.NoSuchProcess):
            continue
        for child in children:
            try:
                if "RayTrainWorker" in " ".join(child.cmdline()) or "RayTrainWorker" in child.name():
                    return node
            except psutil.NoSuchProcess:
                continue
    return None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_training_survives_a_lost_worker_node(tmp_path):
    out = tmp_path / "study"
    log = tmp_path / "driver.log"
    with LocalRay() as cluster:
        cluster.start_head(num_cpus=0)  # drivers only (as the shipped clusters), so training runs on worker nodes
        workers = [cluster.add_worker(num_cpus=2), cluster.add_worker(num_cpus=2)]
        cmd = [STAGEWISE, "run", DEMO, f"output_dir={out}", f"cluster.address={cluster.address}",
               *STEPS, "--until", "train"]
        with log.open("w") as f:
            driver = subprocess.Popen(cmd, cwd=REPO, env=cluster.env, stdout=f, stderr=subprocess.STDOUT)
        try:
            storage = out / "train"
            deadline = time.monotonic() + 600
            while not any(storage.glob("*/checkpoint_*")):
                assert driver.poll() is None, f"the study ended before its first checkpoint:\n{log.read_text()[-4000:]}"
                assert time.monotonic() < deadline, f"no checkpoint after 600 s:\n{log.read_text()[-4000:]}"
                time.sleep(0.5)
            lost = _node_of_training_workers(cluster, workers)
            assert lost is not None, "no training worker on a worker node"
            cluster.kill_node(lost)
            killed_at = time.monotonic()
            rc = driver.wait(timeout=900)
        finally:
            if driver.poll() is None:
                driver.kill()
        text = log.read_text()
        assert rc == 0, text[-6000:]
        assert cluster.alive_nodes() == 2, "the node really died"
    lineage = json.loads((out / "models" / "base" / "stagewise.json").read_text())
    metrics = lineage["metrics"]
    assert metrics["steps"] == 300
    # The restarted worker group started from a checkpoint, not from step 0.
    assert metrics["resumed_from_step"] >= 10, metrics["resumed_from_step"]
    assert time.monotonic() - killed_at < 900
