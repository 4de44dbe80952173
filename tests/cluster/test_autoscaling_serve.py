"""Serving on an autoscaling cluster: engines get nodes launched for them, and replicas follow request load.

    .venv/bin/pytest tests/cluster/test_autoscaling_serve.py -m slow -s   # -s: the timeline; ~3.5 min at load 7-21

A head with no CPUs under Ray's fake multi-node autoscaler (tests/cluster/nodes.py `start_autoscaling_head`): the
engine's placement bundle (serve/app.py) has nowhere to go until the autoscaler launches a worker node. The model
is served with Ray Serve autoscaling (serving.min_replicas 1, max_replicas 2, target_ongoing_requests 2): requests
through `serve.client` (what the evaluation sends with) keep eight in flight, Serve adds a replica, whose bundle
gets a second node; when they stop it goes back to one replica and the autoscaler releases that node, and the last
one once the app is deleted. Short delays and window (serving's upscale/downscale_delay_s, look_back_period_s) keep
it to seconds. One engine start serves both scenarios; at most two engines are alive.

The driver is a fresh interpreter (this file run as a script), as a user's would be. Known and not understood:
run after tests/cluster/test_local.py (in the same pytest session, in or out of process, with or without the
environment those clusters set), the deployer actor was cancelled before it ran, three times out of three ("all
references to the actor were removed"); alone, or after tests/cluster/test_autoscaling.py, it passed every time.
Hence this file's name, which puts it before test_local.py.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # run as the driver script: the repo's `tests` package on the path
    sys.path.insert(0, str(REPO))

from tests.cluster.nodes import LocalRay  # noqa: E402
from tests.conftest import TINY_CORPUS, free_port  # noqa: E402

MODEL = "m"
HELLO = [{"role": "user", "content": "How do I bake bread?"}]
# The router's handles report their in-flight requests to Serve's autoscaler every 10 s by default.
FAST_METRICS = {"RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "1"}


class Row(NamedTuple):
    s: int  # since the timeline started
    running: int  # replicas of the model RUNNING
    replicas: int  # in any state (starting, stopping)
    nodes: int  # alive, the head included


class Timeline:
    """What Serve and the GCS say, every second, from a thread of this driver."""

    def __init__(self, app_name: str):
        self.app_name = app_name
        self.start = time.monotonic()
        self.rows: list[Row] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                row = Row(round(time.monotonic() - self.start), *replicas(self.app_name), alive_nodes())
            except Exception:  # Serve between states (app just deleted): the next poll sees it
                continue
            if not self.rows or row[1:] != self.rows[-1][1:]:
                print(row, flush=True)
            self.rows.append(row)

    def wait(self, what: str, ok, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self.rows and ok(self.rows[-1])):
            assert time.monotonic() < deadline, f"{what}: not after {timeout_s:.0f} s; timeline {self.changes()}"
            time.sleep(1)

    def changes(self) -> list[Row]:
        return [row for i, row in enumerate(self.rows) if i == 0 or row[1:] != self.rows[i - 1][1:]]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def replicas(app_name: str) -> tuple[int, int]:
    """(RUNNING, all) replicas of the model's deployment, as `serve.status()` reports them."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None:
        return 0, 0
    states = next((d.replica_states for name, d in app.deployments.items() if name.endswith(f":{MODEL}")), {})
    return states.get("RUNNING", 0), sum(states.values())


def alive_nodes() -> int:
    import ray

    return sum(n["Alive"] for n in ray.nodes())


async def request_load(base_url: str, stop: threading.Event, in_flight: int) -> list[int]:
    """`in_flight` chat requests kept going through serve.client until `stop`; the tokens of each answer. Long
    answers: few requests a second cost the proxy and router little CPU (the engine starting beside them needs it)."""
    from stagewise.serve.client import ServeClient

    client = ServeClient(base_url, max_concurrency=in_flight, timeout_s=300)
    tokens: list[int] = []

    async def one_after_another() -> None:
        while not stop.is_set():
            answer = await client.chat(MODEL, HELLO, {"max_tokens": 128, "temperature": 0.0, "ignore_eos": True})
            tokens.append(answer.completion_tokens)

    await asyncio.gather(*(one_after_another() for _ in range(in_flight)))
    await client.aclose()
    return tokens


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serving_gets_nodes_launched_and_replicas_follow_request_load(tmp_path, monkeypatch):
    from stagewise.cluster.env import cpu_runtime_env
    from stagewise.cluster.local import EMBEDDED_SERVE_ENV, EMBEDDED_TRAIN_ENV

    # The nodes and the driver get the environment this test alone has: what earlier tests' embedded clusters put
    # into this process's environment (cluster.local) is taken out.
    for key in {"RAY_ADDRESS", *cpu_runtime_env(), *EMBEDDED_TRAIN_ENV, *EMBEDDED_SERVE_ENV}:
        monkeypatch.delenv(key, raising=False)
    env = dict(os.environ)
    log = tmp_path / "driver.log"
    with log.open("w") as f:  # a file, not a pipe: nobody reads a pipe while we wait
        proc = subprocess.run([sys.executable, __file__, str(tmp_path)], cwd=REPO, env=env, stdout=f,
                              stderr=subprocess.STDOUT, timeout=850)
    print(log.read_text()[-6000:])  # the timeline, with -s
    assert proc.returncode == 0, log.read_text()[-6000:]


def drive(tmp_path: Path) -> None:
    import ray
    from ray._private import ray_constants

    from stagewise.serve.app import delete_app, start_app
    from stagewise.serve.config import ServeConfig
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.tiny import make_tiny_checkpoint

    # head_dim 32: vLLM's CPU attention needs it (tests/serve/conftest.py)
    shape = TinyModelConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                            intermediate_size=128, max_position_embeddings=512)
    checkpoint = make_tiny_checkpoint(tmp_path / MODEL, TINY_CORPUS, shape)
    cfg = ServeConfig(app_name="autoscaled", port=free_port(), enforce_eager=True, max_model_len=256, kv_cache_gb=1,
                      ready_timeout_s=600, min_replicas=1, max_replicas=2, target_ongoing_requests=2,
                      upscale_delay_s=2, downscale_delay_s=5, look_back_period_s=12)
    with LocalRay(extra_env=FAST_METRICS) as cluster:
        cluster.start_autoscaling_head(0, {"cpu-worker": {"resources": {"CPU": 1}, "max_workers": 2}},
                                       idle_timeout_s=5)
        # This process is the driver: it resolves this machine to the loopback address, as the nodes do
        # (LocalRay's RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read by Ray at import, long done in a test session).
        ray_constants.ENABLE_RAY_CLUSTER = False
        assert not ray.is_initialized()
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        timeline = Timeline(cfg.app_name)
        try:
            assert alive_nodes() == 1
            # (a) The head has no CPU for the engine's bundle: the app is ready only once a node was launched.
            app = start_app({MODEL: str(checkpoint)}, cfg)
            assert replicas(cfg.app_name)[0] == 1 and alive_nodes() == 2
            # (b) Eight requests in flight against a target of two a replica: Serve wants a second replica, whose
            # bundle needs a second node.
            stop = threading.Event()
            with ThreadPoolExecutor(1) as pool:
                load = pool.submit(asyncio.run, request_load(app.base_url, stop, in_flight=8))
                try:
                    timeline.wait("a second replica running under load", lambda r: r.running == 2, timeout_s=300)
                    assert alive_nodes() == 3
                finally:
                    stop.set()
                answers = load.result(timeout=300)
            assert answers and set(answers) == {128}, "every request of the load was answered in full"
            timeline.wait("back to one replica after the load", lambda r: r.replicas == 1, timeout_s=120)
            timeline.wait("its node released", lambda r: r.nodes == 2, timeout_s=120)
            delete_app(app)
            timeline.wait("the last worker node released", lambda r: r.nodes == 1, timeout_s=120)
        finally:
            timeline.stop()
            ray.shutdown()


if __name__ == "__main__":
    drive(Path(sys.argv[1]))
