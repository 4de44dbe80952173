"""Pure logic of serve/: the LLM configs built from the study config, source checks, error lines, the client.

    .venv/bin/pytest tests/serve/test_config.py      # seconds; no Ray cluster, no engine
"""
import pickle

import pytest
from pydantic import ValidationError

from stagewise.serve.app import check_sources, failure_reason, llm_config
from stagewise.serve.client import ServeClient, _conversation_key, _split_sampling
from stagewise.serve.config import ServeConfig, ServedModelConfig, cpu_has_bf16
from stagewise.core.errors import StagewiseError


def test_cpu_placement_autoscaling_and_kv_cache_from_config():
    cfg = ServeConfig(kv_cache_gb=2, max_model_len=256, models={"judge": ServedModelConfig(min_replicas=0, max_replicas=3)})
    judge = llm_config("judge", "/ckpt/judge", cfg, gpu=False)
    assert judge.accelerator_config.kind == "cpu"
    assert judge.placement_group_config == {"bundles": [{"CPU": 1}]}
    assert judge.deployment_config["autoscaling_config"] == {
        "min_replicas": 0, "max_replicas": 3, "target_ongoing_requests": 2, "upscale_delay_s": 30,
        "downscale_delay_s": 600, "look_back_period_s": 30}
    assert judge.deployment_config["ray_actor_options"] == {"num_cpus": 0}
    assert judge.runtime_env["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert judge.engine_kwargs["max_model_len"] == 256 and judge.model_id == "judge"
    sft = llm_config("sft", "/ckpt/sft", cfg, gpu=False)  # not listed: the section-wide bounds
    assert sft.deployment_config["autoscaling_config"]["min_replicas"] == 1
    assert sft.deployment_config["autoscaling_config"]["max_replicas"] == 1


def test_gpu_settings_from_config():
    cfg = ServeConfig(models={"big": ServedModelConfig(accelerator_type="H100", tensor_parallel_size=4,
                                                       max_model_len=8192, engine_kwargs={"gpu_memory_utilization": 0.8})})
    big = llm_config("big", "org/big-model", cfg, gpu=True)
    assert big.accelerator_type == "H100"
    assert big.accelerator_config is None or big.accelerator_config.kind == "gpu"
    assert big.engine_kwargs["tensor_parallel_size"] == 4 and big.engine_kwargs["max_model_len"] == 8192
    assert big.engine_kwargs["gpu_memory_utilization"] == 0.8
    assert big.runtime_env is None  # no CPU-only switches on GPU replicas


def test_dtype_auto_is_fp32_only_on_cpus_that_emulate_bf16(tmp_path, monkeypatch):
    avx2, sapphire = tmp_path / "avx2", tmp_path / "spr"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert not cpu_has_bf16(str(avx2)) and cpu_has_bf16(str(sapphire))
    assert cpu_has_bf16(str(tmp_path / "missing"))  # unknown: keep bf16
    monkeypatch.setattr("stagewise.serve.config.cpu_has_bf16", lambda: False)
    assert ServeConfig().engine_dtype(gpu=False) == "float32"
    assert ServeConfig().engine_dtype(gpu=True) == "bfloat16"
    assert ServeConfig(dtype="bfloat16").engine_dtype(gpu=False) == "bfloat16"  # an explicit choice wins
    assert llm_config("m", "/ckpt/m", ServeConfig(), gpu=False).engine_kwargs["dtype"] == "float32"
    assert ServeConfig(dtype="float16").engine_dtype(gpu=True) == "float16"  # GPUs without bf16
    with pytest.raises(StagewiseError, match=r"^serving\.dtype: float16 is not supported by vLLM's CPU build"):
        ServeConfig(dtype="float16").engine_dtype(gpu=False)
    with pytest.raises(ValidationError):
        ServeConfig(dtype="fp8")


def test_replica_bounds_are_checked():
    with pytest.raises(ValidationError, match="min_replicas 3 is above max_replicas 2"):
        ServedModelConfig(min_replicas=3, max_replicas=2)
    with pytest.raises(ValidationError, match="initial_replicas 3 is above max_replicas 2"):
        ServeConfig(max_replicas=2, initial_replicas=3)
    # A model's own bound is checked against the section's it keeps.
    with pytest.raises(ValidationError, match=r"models\.judge: min_replicas 3 is above max_replicas 2 \(what it "):
        ServeConfig(max_replicas=2, models={"judge": ServedModelConfig(min_replicas=3)})
    ServeConfig(max_replicas=4, models={"judge": ServedModelConfig(min_replicas=3)})
    with pytest.raises(ValidationError, match="greater than 0"):
        ServedModelConfig(target_ongoing_requests=0)
    with pytest.raises(ValidationError, match="greater than 10"):  # Ray Serve's metrics interval
        ServedModelConfig(look_back_period_s=5)


def test_replica_scaling_reaches_ray_serve_and_a_model_keeps_what_it_leaves_unset():
    """Ray Serve LLM's own target (10^9 ongoing requests a replica) never scales out on load: `max_replicas` did
    nothing until the config passed a target. A listed model (every model of the GPU configs is listed, for its
    accelerator_type) keeps the section's scaling where it sets none."""
    from ray.llm._internal.common.dict_utils import maybe_apply_llm_deployment_config_defaults
    from ray.llm._internal.serve.core.server.builder import DEFAULT_DEPLOYMENT_OPTIONS
    from ray.serve.config import AutoscalingConfig

    cfg = ServeConfig(max_replicas=3, target_ongoing_requests=4, upscale_delay_s=1, downscale_delay_s=5,
                      models={"judge": ServedModelConfig(accelerator_type="H100", initial_replicas=2,
                                                         look_back_period_s=12)})
    judge = cfg.for_model("judge")
    assert (judge.min_replicas, judge.max_replicas, judge.initial_replicas, judge.accelerator_type) == (1, 3, 2, "H100")
    # What Ray Serve LLM's builder makes of the deployment config (its defaults under ours), without starting Ray
    # (`LLMServer.get_deployment_options` would).
    assert DEFAULT_DEPLOYMENT_OPTIONS["autoscaling_config"]["target_ongoing_requests"] >= 10**9
    ours = llm_config("judge", "/ckpt/judge", cfg, gpu=False).deployment_config
    merged = maybe_apply_llm_deployment_config_defaults(DEFAULT_DEPLOYMENT_OPTIONS, ours)
    scaling = AutoscalingConfig(**merged["autoscaling_config"])
    assert (scaling.min_replicas, scaling.initial_replicas, scaling.max_replicas) == (1, 2, 3)
    assert (scaling.target_ongoing_requests, scaling.upscale_delay_s, scaling.downscale_delay_s,
            scaling.look_back_period_s) == (4, 1, 5, 12)
    assert "initial_replicas" not in ServeConfig().for_model("m").autoscaling_config()  # unset: Serve's min_replicas


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


def test_prerendered_prompts_travel_with_the_client_and_match_the_template(tiny_model_dir):
    """Ray actors get a pickled client: prompts rendered in the driver must spare them transformers."""
    from transformers import AutoTokenizer

    conversations = [[{"role": "user", "content": "hi"}], [{"role": "system", "content": "Be brief."},
                                                            {"role": "user", "content": "Bread?"}]]
    client = ServeClient("http://127.0.0.1:1/v1", tokenizers={"m": str(tiny_model_dir)})
    client.prerender("m", conversations)
    clone = pickle.loads(pickle.dumps(client))
    clone._render = None  # a lookup miss would call it (and import transformers)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert [clone.render("m", c) for c in conversations] == [
        tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    client.prerender("other", conversations)  # no template for it: chat requests, nothing rendered
    assert ("other", _conversation_key(conversations[0])) not in client._rendered


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.53", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("ray-head.svc", False),
])
def test_loopback_hosts(host, loopback):
    from stagewise.serve.config import is_loopback

    assert is_loopback(host) is loopback


def test_serving_beyond_loopback_needs_a_key(monkeypatch):
    monkeypatch.delenv("STAGEWISE_API_KEY", raising=False)
    monkeypatch.delenv("LAB_SERVE_KEY", raising=False)
    ServeConfig().check_exposure()  # loopback without a key: fine
    with pytest.raises(StagewiseError, match=r"^serving\.host: 0\.0\.0\.0 is not a loopback address and no API key "
                                             r"is set; export STAGEWISE_API_KEY \(serving\.api_key_env\)"):
        ServeConfig(host="0.0.0.0").check_exposure()
    ServeConfig(host="0.0.0.0", api_key="k").check_exposure()
    cfg = ServeConfig(host="0.0.0.0", api_key_env="LAB_SERVE_KEY")
    with pytest.raises(StagewiseError, match="export LAB_SERVE_KEY"):
        cfg.check_exposure()
    monkeypatch.setenv("LAB_SERVE_KEY", "secret")
    cfg.check_exposure()
    assert cfg.resolved_api_key() == "secret"


def test_start_app_refuses_a_keyless_public_host_before_any_engine(monkeypatch):
    """start_app checks first: no Ray, no deployer, no checkpoint is touched (the sources do not exist)."""
    from stagewise.serve.app import start_app

    monkeypatch.delenv("STAGEWISE_API_KEY", raising=False)
    with pytest.raises(StagewiseError, match=r"^serving\.host: 0\.0\.0\.0 is not a loopback address"):
        start_app({"m": "/nonexistent/checkpoint"}, ServeConfig(host="0.0.0.0"))


def test_real_scale_config_takes_its_key_from_the_environment(monkeypatch):
    """configs/olmo2-7b.yaml serves on the cluster network: refused without the key, which it never holds itself."""
    from stagewise.config import load_study
    from tests.conftest import REPO

    study = load_study(REPO / "configs" / "olmo2-7b.yaml")
    assert study.serving.host == "0.0.0.0"
    assert study.serving.api_key is None and study.serving.api_key_env == "STAGEWISE_API_KEY"
    monkeypatch.delenv("STAGEWISE_API_KEY", raising=False)
    with pytest.raises(StagewiseError, match="export STAGEWISE_API_KEY"):
        study.serving.check_exposure()
    monkeypatch.setenv("STAGEWISE_API_KEY", "from-a-secret")
    study.serving.check_exposure()


def test_stagewise_run_refuses_a_keyless_public_host_before_any_cluster(monkeypatch):
    from stagewise.config import load_study
    from stagewise.run import check_inputs
    from tests.conftest import REPO

    monkeypatch.delenv("STAGEWISE_API_KEY", raising=False)
    study = load_study(REPO / "configs" / "demo.yaml", ["serving.host=0.0.0.0"])
    with pytest.raises(StagewiseError, match=r"^serving\.host: 0\.0\.0\.0 is not a loopback address"):
        check_inputs(study)
    check_inputs(study, until="train")  # training alone serves nothing


def test_the_router_reserves_what_the_config_says(monkeypatch):
    """Ray Serve's default (a whole CPU for the OpenAI router) left a 4-CPU head's evaluation no CPU: the demo
    sat at `== eval` forever (issue 24). The app asks for `serving.ingress_cpus` (default 0)."""
    assert ServeConfig().ingress_cpus == 0
    from stagewise.serve import app as serve_app

    seen = {}
    monkeypatch.setattr("ray.serve.llm.build_openai_app", lambda cfg: seen.update(cfg) or "app")
    monkeypatch.setattr(serve_app, "live_cluster_has_gpus", lambda: False)
    assert serve_app.build_app({"m": "/ckpt/m"}, ServeConfig(ingress_cpus=0.5)) == "app"
    assert seen["ingress_deployment_config"] == {"ray_actor_options": {"num_cpus": 0.5}}


def test_no_shipped_config_holds_a_key_or_serves_keyless_beyond_loopback(monkeypatch):
    """Every config under configs/: a non-loopback host takes its key from the environment (never the file)."""
    from stagewise.config import load_study
    from stagewise.serve.config import is_loopback
    from tests.conftest import REPO

    monkeypatch.delenv("STAGEWISE_API_KEY", raising=False)
    for path in sorted((REPO / "configs").glob("*.yaml")):
        serving = load_study(path).serving
        assert serving.api_key is None, path
        if not is_loopback(serving.host):
            with pytest.raises(StagewiseError, match=f"export {serving.api_key_env}"):
                serving.check_exposure()
