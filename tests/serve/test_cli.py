"""`stagewise serve` in the foreground: prints the endpoint and model ids, serves, and stops cleanly on SIGINT.

    .venv/bin/pytest tests/serve/test_cli.py      # ~2-4 min on 2 cores (its own embedded cluster + one engine)
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import yaml

from tests.conftest import REPO, free_port


def test_serve_flags_need_a_running_cluster(tmp_path, two_checkpoints, monkeypatch):
    from stagewise.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "output_dir": str(tmp_path),
                                      "models": [{"id": "solo", "stage": "sft", "source": str(two_checkpoints["alpha"])}]}))
    assert main(["serve", str(config), "--detach"]) == 2
    assert main(["serve", str(config), "--stop"]) == 2


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_foreground_serve_prints_endpoint_and_stops_on_sigint(tmp_path, two_checkpoints):
    port = free_port()
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({
        "name": "servecli",
        "output_dir": str(tmp_path / "out"),
        "models": [{"id": "solo", "stage": "sft", "source": str(two_checkpoints["alpha"])}],
        "serving": {"port": port, "enforce_eager": True, "app_name": "servecli", "ready_timeout_s": 1000},
        "cluster": {"num_cpus": 4},
    }))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONFAULTHANDLER": "1"}
    # A suite started in the background (`cmd &` in a script) inherits SIGINT ignored, and Python then leaves
    # it ignored: give the child the default disposition so Ctrl-C means KeyboardInterrupt, as in a terminal.
    proc = subprocess.Popen([sys.executable, "-m", "stagewise", "serve", str(config)], cwd=REPO, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()  # never block on a full pipe
    try:
        lines = []
        for line in proc.stdout:  # blocks until the app is ready and announced
            lines.append(line.strip())
            if line.startswith("models:"):
                break
        # Keep draining stdout too: Ray forwards the workers' logs there, and an unread pipe that fills (64 KiB)
        # blocks the process mid-shutdown.
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        assert f"endpoint: http://127.0.0.1:{port}/v1" in lines, (lines, "".join(stderr)[-3000:])
        assert "models: solo" in lines
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30) as r:
            assert [m["id"] for m in json.load(r)["data"]] == ["solo"]

        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            # If it ever hangs again, say where. PYTHONFAULTHANDLER makes SIGABRT
            # print every thread's stack to stderr before the process dies.
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=60)
            time.sleep(1)
            pytest.fail("stagewise serve did not stop within 300 s of SIGINT; its threads:\n" + "".join(stderr)[-8000:])
        assert code == 0, "".join(stderr)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped" in "".join(stderr)
    # The HTTP proxy went down with the embedded cluster: nothing left listening on the port.
    time.sleep(1)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5)
