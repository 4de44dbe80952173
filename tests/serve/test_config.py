"""Pure logic of serve/: the LLM configs built from the study config, source checks, error lines, the client.

    .venv/bin/pytest tests/serve/test_config.py      # seconds; no Ray cluster, no engine
"""
import pickle

import pytest
from pydantic import ValidationError

from serve.app import check_sources, failure_reason, llm_config
from serve.client import ServeClient, _split_sampling
from serve.config import ServeConfig, ServedModelConfig
from stagewise.errors import StagewiseError


def test_cpu_placement_autoscaling_and_kv_cache_from_config():
    cfg = ServeConfig(kv_cache_gb=2, max_model_len=256, models={"judge": ServedModelConfig(min_replicas=0, max_replicas=3)})
    judge = llm_config("judge", "/ckpt/judge", cfg, gpu=False)
    assert judge.accelerator_config.kind == "cpu"
    assert judge.placement_group_config == {"bundles": [{"CPU": 1}]}
    assert judge.deployment_config["autoscaling_config"] == {"min_replicas": 0, "max_replicas": 3}
    assert judge.deployment_config["ray_actor_options"] == {"num_cpus": 0}
    assert judge.runtime_env["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert judge.engine_kwargs["max_model_len"] == 256 and judge.model_id == "judge"
    sft = llm_config("sft", "/ckpt/sft", cfg, gpu=False)  # not listed: the section-wide bounds
    assert sft.deployment_config["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 1}


def test_gpu_settings_from_config():
    cfg = ServeConfig(models={"big": ServedModelConfig(accelerator_type="H100", tensor_parallel_size=4,
                                                       max_model_len=8192, engine_kwargs={"gpu_memory_utilization": 0.8})})
    big = llm_config("big", "org/big-model", cfg, gpu=True)
    assert big.accelerator_type == "H100"
    assert big.accelerator_config is None or big.accelerator_config.kind == "gpu"
    assert big.engine_kwargs["tensor_parallel_size"] == 4 and big.engine_kwargs["max_model_len"] == 8192
    assert big.engine_kwargs["gpu_memory_utilization"] == 0.8
    assert big.runtime_env is None  # no CPU-only switches on GPU replicas


def test_replica_bounds_are_checked():
    with pytest.raises(ValidationError, match="min_replicas 3 is above max_replicas 2"):
        ServedModelConfig(min_replicas=3, max_replicas=2)


def test_missing_or_non_model_checkpoints_are_named(tmp_path):
    with pytest.raises(StagewiseError, match=r"^models\.sft: checkpoint .*nowhere does not exist$"):
        check_sources({"sft": str(tmp_path / "nowhere")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(StagewiseError, match=r"^models\.base: .*empty has no config.json"):
        check_sources({"base": str(tmp_path / "empty")})
    check_sources({"prod": "org/name"})  # a hub id: vLLM resolves it


def test_failure_reason_is_the_last_exception_line():
    message = (
        "The deployment failed to start 1 times in a row. Error:\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in f\nValueError: outer\n\nThe above exception...\n'
        "json.decoder.JSONDecodeError: Unterminated string starting at: line 1 column 80 (char 79)\n"
    )
    assert failure_reason(message).startswith("json.decoder.JSONDecodeError: Unterminated string")
    assert failure_reason("") == "no reason given"


def test_every_ingress_route_checks_the_api_key():
    from ray.llm._internal.serve.core.ingress.ingress import DEFAULT_ENDPOINTS

    from serve.ingress import GUARDED_ROUTES, KeyedOpenAiIngress

    # A route Ray adds later and we do not override would be served without the key.
    assert set(DEFAULT_ENDPOINTS) == GUARDED_ROUTES
    assert all(name in KeyedOpenAiIngress.__dict__ for name in GUARDED_ROUTES)


def test_client_pickles_without_its_http_state_and_splits_sampling():
    client = ServeClient("http://127.0.0.1:1/v1", "key", max_concurrency=4, tokenizers={"m": "/ckpt"})
    clone = pickle.loads(pickle.dumps(client))
    assert (clone.base_url, clone.api_key, clone.max_concurrency, clone.tokenizers) == (
        "http://127.0.0.1:1/v1", "key", 4, {"m": "/ckpt"})
    assert clone._client is None
    named, extra = _split_sampling({"temperature": 0.7, "max_tokens": 8, "seed": 3, "top_k": 5})
    assert named == {"temperature": 0.7, "max_tokens": 8, "seed": 3} and extra == {"top_k": 5}
    with pytest.raises(ValueError, match="sampling.n"):
        _split_sampling({"n": 2})
