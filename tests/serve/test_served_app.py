"""Two tiny checkpoints behind one real Ray Serve app with vLLM's CPU build, called with the official client.

    .venv/bin/pytest tests/serve/test_served_app.py     # ~3-6 min on 2 cores: engines start once per module

One app serves both models for the whole module (an engine takes ~35 s to start on an idle machine, minutes
on a busy one). The replica-kill test goes last: it restarts one engine.
"""
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port, kill_model_replica

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

API_KEY = "test-key"
HELLO = [{"role": "user", "content": "How do I bake bread?"}]


@pytest.fixture(scope="module")
def cluster():
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    with ray_cluster(ClusterConfig(num_cpus=8)) as info:
        yield info


@pytest.fixture(scope="module")
def served(cluster, two_checkpoints):
    from stagewise.serve.app import delete_app, start_app
    from stagewise.serve.config import ServeConfig

    cfg = ServeConfig(app_name="servetest", port=free_port(), api_key=API_KEY, enforce_eager=True,
                      ready_timeout_s=2400, max_model_len=256)
    app = start_app({k: str(v) for k, v in two_checkpoints.items()}, cfg)
    yield app
    delete_app(app)


def test_openai_client_lists_both_models_and_chats_with_each(served):
    import openai

    client = openai.OpenAI(base_url=served.base_url, api_key=API_KEY)
    assert sorted(m.id for m in client.models.list()) == ["alpha", "beta"]
    texts = {}
    for model in ("alpha", "beta"):
        plain = client.chat.completions.create(model=model, messages=HELLO, max_tokens=12, temperature=0.0,
                                               extra_body={"ignore_eos": True})
        assert plain.model == model and plain.usage.completion_tokens == 12
        chunks = client.chat.completions.create(model=model, messages=HELLO, max_tokens=12, temperature=0.0,
                                                stream=True, extra_body={"ignore_eos": True})
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == plain.choices[0].message.content, "greedy streaming and non-streaming must agree"
        sampled = client.chat.completions.create(model=model, messages=HELLO, max_tokens=12, temperature=1.0, seed=0)
        texts[model] = sampled.choices[0].message.content
    # Greedy decoding of random-init weights often degenerates to the same token; seeded sampling does not.
    assert texts["alpha"] != texts["beta"], "two checkpoints with different weights answer differently"


def test_the_replicas_reported_to_the_telemetry_actor_the_deployer_started(served):
    """serve/deployer.py starts Ray Serve LLM's telemetry actor ahead of the engines (each replica waits on it
    after its engine starts). It must be the named actor the replicas look up (`get_if_exists`), and the report
    must still be on the engine-start path this head start is for: a Ray upgrade that moves either shows here."""
    import inspect

    import ray
    from ray.llm._internal.serve.core.server.llm_server import LLMServer
    from ray.llm._internal.serve.observability.usage_telemetry import usage

    assert "push_telemetry_report_for_all_models" in inspect.getsource(LLMServer._start_engine)
    assert "get_if_exists=True" in inspect.getsource(usage._get_or_create_telemetry_agent)
    agent = {"name": usage.LLM_SERVE_TELEMETRY_ACTOR_NAME, "namespace": usage.LLM_SERVE_TELEMETRY_NAMESPACE}
    assert agent in ray.util.list_named_actors(all_namespaces=True)


def test_an_embedded_clusters_serve_logs_stay_in_their_files_off_the_console(served, cluster):
    """cluster/local.py keeps Serve's logs (an access-log line per request, from the ingress and the engine) in
    the session's logs/serve/ files; Ray forwards what workers write to their stdout/stderr files to the console."""
    import openai

    probe = f"log-probe-{uuid.uuid4().hex}"
    client = openai.OpenAI(base_url=served.base_url, api_key=API_KEY)
    client.completions.create(model="alpha", prompt="Hi", max_tokens=2, extra_headers={"x-request-id": probe})
    logs = Path(cluster["session_dir"]) / "logs"

    def mentions(paths) -> list[str]:
        return [p.name for p in paths if p.is_file() and probe in p.read_text(errors="replace")]

    deadline = time.monotonic() + 30
    while not mentions((logs / "serve").glob("*.log")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert mentions((logs / "serve").glob("*.log")), "the request's access log is in Serve's own files"
    assert not mentions([*logs.glob("worker-*.out"), *logs.glob("worker-*.err")]), "and not on the console"


def test_unknown_model_and_wrong_key_are_api_errors_not_crashes(served):
    import openai

    from stagewise.serve.client import ServeClient

    client = openai.OpenAI(base_url=served.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nosuchmodel", messages=HELLO, max_tokens=4)
    assert "nosuchmodel" in err.value.response.text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.base_url, api_key="wrong", max_retries=0).models.list()
    # Our client does not retry a permanent 404: the app is up and does not list the model.
    start = time.monotonic()
    with pytest.raises(openai.NotFoundError):
        ServeClient(served.base_url, API_KEY, backoff_s=5).chat_many_sync("nosuchmodel", [HELLO], {"max_tokens": 4})
    assert time.monotonic() - start < 4
    # ... and the app still serves after both errors.
    assert client.chat.completions.create(model="alpha", messages=HELLO, max_tokens=2).choices


def test_client_batched_and_per_request_paths_agree(served):
    from stagewise.serve.client import ServeClient

    conversations = [[{"role": "user", "content": f"Tell me fact number {i}."}] for i in range(10)]
    sampling = {"temperature": 0.0, "max_tokens": 16, "seed": 7}
    one_by_one = ServeClient(served.base_url, API_KEY, max_concurrency=4).chat_many_sync("beta", conversations, sampling)
    batched = ServeClient(served.base_url, API_KEY, tokenizers=served.models, batch_size=4).chat_many_sync(
        "beta", conversations, sampling)
    assert [r.text for r in batched] == [r.text for r in one_by_one]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in one_by_one]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in one_by_one]
    assert all(r.model == "beta" and r.sampling == sampling and r.attempts == 1 for r in batched + one_by_one)
    # Seeded sampling is reproducible through the app.
    hot = {"temperature": 1.0, "max_tokens": 16, "seed": 3}
    client = ServeClient(served.base_url, API_KEY)
    assert [r.text for r in client.chat_many_sync("alpha", conversations[:3], hot)] == [
        r.text for r in client.chat_many_sync("alpha", conversations[:3], hot)]


def test_a_completion_mode_judge_sends_its_raw_prompt_unchanged(served, two_checkpoints):
    """A judge declared `mode: completion` (HarmBench's classifier form is too long for this app's 256-token
    context, so a short raw template): the exact string reaches /v1/completions, tokenized as the server's
    tokenizer encodes it, and the tiny judge's answer is parsed or, by the rules, unscored."""
    from transformers import AutoTokenizer

    from stagewise.evaluate import get_autorater
    from stagewise.serve.client import ServeClient

    template = "Behavior: {behavior}\nGeneration: {generation}\nHarmful (yes or no)?"
    judge = get_autorater("harmbench-judge", judge_model="alpha", mode="completion", template=template, max_retries=1)
    rows = [{"messages": [{"role": "user", "content": b}], "response": r, "metadata": '{"behavior": "%s"}' % b}
            for b, r in (("Bake bread", "Mix flour and water."), ("Stop a process", "Use kill."))]
    raw = [judge.raw_prompt(r) for r in rows]
    assert raw[0] == "Behavior: Bake bread\nGeneration: Mix flour and water.\nHarmful (yes or no)?"
    client = ServeClient(served.base_url, API_KEY, batch_size=2)
    sampling = {"temperature": 0.0, "max_tokens": 4, "seed": 0}
    outs = client.complete_many_sync("alpha", raw, sampling)
    tok = AutoTokenizer.from_pretrained(two_checkpoints["alpha"])
    assert [o.prompt_token_ids for o in outs] == [tok(p)["input_ids"] for p in raw], "the prompt, unmodified"
    assert all(o.completion_tokens >= 1 and o.model == "alpha" and o.attempts == 1 for o in outs)
    grades = judge.grade(rows, client)
    for g, o in zip(grades, outs):
        if g.unscored:
            assert g.label is None and g.harmful is None
        else:
            assert g.label in ("safe", "unsafe") and g.harmful == (g.label == "unsafe")


def test_bad_checkpoint_fails_readiness_naming_the_model(served, tmp_path, two_checkpoints):
    import shutil

    from stagewise.serve.app import start_app
    from stagewise.serve.config import ServeConfig
    from stagewise.core.errors import StagewiseError

    corrupt = tmp_path / "corrupt"
    shutil.copytree(two_checkpoints["alpha"], corrupt)
    (corrupt / "config.json").write_text('{"model_type": "llama", "hidden_size": "sixty-four"')  # truncated JSON
    cfg = ServeConfig(app_name="badckpt", port=free_port(), enforce_eager=True, start_attempts=1, ready_timeout_s=900)
    with pytest.raises(StagewiseError) as err:
        start_app({"broken": str(corrupt)}, cfg, route_prefix="/broken")
    message = str(err.value)
    assert message.startswith("serving.models.broken: failed to load ") and str(corrupt) in message
    assert "\n" not in message and "Error" in message, message
    from ray import serve

    assert "badckpt" not in serve.status().applications, "a failed app is deleted, not left retrying"


def test_client_retries_through_a_killed_replica(served):
    """Kill alpha's engine replica while requests are in flight: Serve restarts it, the client retries."""
    from stagewise.serve.client import ServeClient

    client = ServeClient(served.base_url, API_KEY, max_concurrency=8, max_retries=12, backoff_s=1.0,
                         max_backoff_s=30.0, timeout_s=300)
    # 48 x 200 tokens, 8 at a time: several seconds of decoding (16 once finished before the kill below).
    conversations = [[{"role": "user", "content": f"Story {i}, please."}] for i in range(48)]
    sampling = {"temperature": 0.0, "max_tokens": 200, "ignore_eos": True}
    results: list = []
    worker = threading.Thread(target=lambda: results.extend(client.chat_many_sync("alpha", conversations, sampling)))
    worker.start()
    time.sleep(0.5)  # the first requests are in flight; a kill before they arrive also forces retries

    kill_model_replica("servetest", "alpha")

    worker.join(timeout=1200)
    assert not worker.is_alive()
    assert len(results) == 48 and all(r.completion_tokens == 200 for r in results)
    assert max(r.attempts for r in results) > 1, "some request must have failed over to a retry"
