"""Autoscaling, exercised: a head-only cluster whose autoscaler launches worker nodes for a study and releases them.

    .venv/bin/pytest tests/cluster/test_autoscaling.py -m slow

Ray's fake multi-node provider (tests/cluster/nodes.py `start_autoscaling_head`) launches real raylets on this
machine when work asks for resources the cluster lacks, and removes them once idle, as the launcher and KubeRay
clusters we ship do with cloud machines. The head has no CPUs (as theirs): every training worker needs a node the
autoscaler has to bring up, and the study's placement check must not refuse resources that are still to come.
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

TRAIN_TWO_WORKERS = [*TINY_STUDY[:1],
                     "training=[{name: pretrain, objective: pretrain, init: tiny, output: base,"
                     " data: [data/demo/pretrain.txt], num_workers: 2, micro_batch_size: 4, max_steps: 20,"
                     " max_seq_len: 64, packing: true, lr: 1.0e-3}]", *TINY_STUDY[2:]]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_study_gets_nodes_launched_for_training_and_released_after(tmp_path):
    out = tmp_path / "study"
    log = tmp_path / "driver.log"
    with LocalRay() as cluster:
        cluster.start_autoscaling_head(0, {"cpu-worker": {"resources": {"CPU": 2}, "max_workers": 2}},
                                       idle_timeout_s=10)
        assert cluster.alive_nodes() == 1
        cmd = [STAGEWISE, "run", DEMO, f"output_dir={out}", f"cluster.address={cluster.address}",
               *TRAIN_TWO_WORKERS, "--until", "train"]
        with log.open("w") as f:
            driver = subprocess.Popen(cmd, cwd=REPO, env=cluster.env, stdout=f, stderr=subprocess.STDOUT)
        most = 1
        try:
            while driver.poll() is None:
                most = max(most, cluster.alive_nodes())
                time.sleep(2)
        finally:
            if driver.poll() is None:
                driver.kill()
        text = log.read_text()
        assert driver.returncode == 0, text[-6000:]
        assert most >= 2, "the autoscaler launched no node for the training workers"
        lineage = json.loads((out / "models" / "base" / "stagewise.json").read_text())
        assert lineage["metrics"]["steps"] == 20
        # Idle nodes go back (idle_timeout 10 s, the autoscaler polls every second).
        released = time.monotonic() + 180
        while cluster.alive_nodes() > 1:
            assert time.monotonic() < released, (f"idle worker nodes were not released:\n{cluster.autoscaler_status()}"
                                                 f"\nlive actors: {cluster.alive_actors()}")
            time.sleep(3)
