"""One Ray Serve application hosting every checkpoint of a study behind vLLM, OpenAI-compatible.

    with ray_cluster(), served_app({"sft": "runs/demo/models/sft"}, ServeConfig()) as app:
        ServeClient(app.base_url, app.api_key).chat_many_sync("sft", conversations, {"max_tokens": 64})

Built with Ray Serve's LLM API (`build_openai_app`): one `LLMServer` deployment (a vLLM engine per replica)
per model id, behind one OpenAI ingress at `http://<host>:<port>/v1`. Each model serves on GPUs or CPUs as
`serve/placement.py` decides: a CPU engine gets a CPU placement bundle and vLLM's CPU build; a GPU engine its
accelerator type, tensor parallelism and context length from the config. The private Ray / vLLM internals it
patches live in `serve/internals.py`. `stagewise serve <config>` (stagewise/commands/serve.py) serves a study's
models.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagewise.cluster.env import cpu_runtime_env
from stagewise.serve.client import ServedApp
from stagewise.serve.config import ServeConfig
from stagewise.serve.placement import live_cluster_has_gpus, serves_on_gpu
from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    from ray.actor import ActorHandle
    from ray.serve.deployment import Application
    from ray.serve.llm import LLMConfig


log = logging.getLogger(__name__)

# A hub id is exactly `org/name`; anything else that does not exist on disk is a missing local checkpoint.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")



# ---------------------------------------------------------------------------------------------------------
# Building the application


def llm_config(model_id: str, source: str, cfg: ServeConfig, gpu: bool) -> "LLMConfig":
    """The Ray Serve LLM config of one model: placement, autoscaling bounds and vLLM engine settings."""
    from ray.serve.llm import LLMConfig

    from stagewise.serve import internals

    m = cfg.for_model(model_id)
    engine_kwargs: dict[str, Any] = {
        "dtype": cfg.engine_dtype(gpu),
        "max_model_len": m.max_model_len or cfg.max_model_len,
        "max_num_seqs": cfg.max_num_seqs,
        "enforce_eager": cfg.enforce_eager,
    }
    deployment: dict[str, Any] = {
        "name": model_id,  # the deployment shows up as `[InProcess]LLMServer:<model id>` in `serve status`
        "autoscaling_config": m.autoscaling_config(),  # bounds, target, delays (serve.config.ReplicaScaling)
        "max_ongoing_requests": cfg.max_ongoing_requests,
        "max_constructor_retry_count": cfg.start_attempts,
    }
    placement: dict[str, Any] = {}
    runtime_env = None
    if gpu:
        engine_kwargs["tensor_parallel_size"] = m.tensor_parallel_size
        if m.accelerator_type:
            placement["accelerator_type"] = m.accelerator_type
    else:
        # Without kind=cpu Ray Serve LLM assumes a GPU; the replica actor itself takes no CPU so the engine's
        # bundle is the only reservation (STACK.md: what fits on 2 cores).
        placement["accelerator_config"] = {"kind": "cpu"}
        placement["placement_group_config"] = {"bundles": [{"CPU": cfg.cpus_per_replica}]}
        deployment["ray_actor_options"] = {"num_cpus": 0}
        # vLLM's default OMP binding ("auto") pins every engine on a node to the same core; several models per
        # node (and other users' engines) then share one core while the rest idle. Let the OS schedule them.
        bind = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        env = {**cpu_runtime_env(), "VLLM_CPU_KVCACHE_SPACE": str(cfg.kv_cache_gb), "VLLM_CPU_OMP_THREADS_BIND": bind}
        runtime_env = {"env_vars": env}
    engine_kwargs.update(m.engine_kwargs)
    return LLMConfig(
        model_loading_config={"model_id": model_id, "model_source": source},
        engine_kwargs=engine_kwargs,
        deployment_config=deployment,
        runtime_env=runtime_env,
        **internals.llm_config_fields(cpu=not gpu),  # server class and callback (serve/internals.py)
        **placement,
    )


def resolve_api_key(cfg: ServeConfig) -> str | None:
    return cfg.resolved_api_key()


def check_sources(models: dict[str, str], where: str = "models") -> None:
    """Fail before any engine starts when a local checkpoint folder is missing or is not a model folder."""
    for model_id, source in models.items():
        path = Path(source).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise StagewiseError(f"{where}.{model_id}: {source} has no config.json (not a Hugging Face model dir)")
        elif not _HUB_ID.match(source):
            raise StagewiseError(f"{where}.{model_id}: checkpoint {source} does not exist")


def build_app(models: dict[str, str], cfg: ServeConfig, api_key: str | None = None) -> "Application":
    """The Serve application for `models` (model id -> local HF dir or hub id); `serve.run` it to start it."""
    from ray.serve.llm import build_openai_app

    from stagewise.serve import internals

    if not models:
        raise StagewiseError("serving: no models to serve")
    ingress = internals.ingress_cls_config(api_key or resolve_api_key(cfg))
    cluster_gpus = live_cluster_has_gpus()
    configs = [llm_config(mid, src, cfg, serves_on_gpu(cfg, mid, cluster_gpus)) for mid, src in models.items()]
    app_config: dict[str, Any] = {"llm_configs": configs,
                                  "ingress_deployment_config": {"ray_actor_options": {"num_cpus": cfg.ingress_cpus}}}
    if ingress is not None:  # None: Ray's own ingress (no key, unpatched versions)
        app_config["ingress_cls_config"] = ingress
    return build_openai_app(app_config)


# ---------------------------------------------------------------------------------------------------------
# Running it


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_serve(cfg: ServeConfig) -> tuple[str, int]:
    """Start Serve's HTTP proxy on cfg.host:cfg.port (or find the one already running); return where it is."""
    from ray import serve

    from stagewise.serve import internals

    port = cfg.port or _free_port(cfg.host)
    # One proxy, on the head: clients (and the shipped clusters' Service / port) reach the head's address only.
    # Ray's default also runs one on every node holding a replica, which kept each autoscaled node 30 s past its
    # last replica (the proxy's draining period) before the autoscaler could release it.
    serve.start(http_options={"host": cfg.host, "port": port}, proxy_location="HeadOnly")
    return internals.serve_address(cfg.host, port)  # Serve already running keeps its own address


def start_app(
    models: dict[str, str], cfg: ServeConfig, *, route_prefix: str = "/", where: str = "models",
    deployer: "ActorHandle | None" = None,
) -> ServedApp:
    """Deploy the app, wait until every model answers, and return where it is. Needs `ray.init` first.

    `deployer`: a `serve.deployer.start_deployer()` actor started earlier, so its imports are done by now;
    without one it is started here. It deploys this one app and is stopped."""
    import ray

    from stagewise.serve.deployer import deploy, start_deployer

    cfg.check_exposure()  # before any engine starts: no key, no serving beyond loopback
    check_sources(models, where)
    api_key = resolve_api_key(cfg)
    deployer = deployer or start_deployer()
    try:
        host, port = deploy(deployer, models, cfg, api_key, route_prefix)
    finally:
        ray.kill(deployer)  # the app lives on in Serve; the actor's ~750 MB of imports are not needed again
    prefix = route_prefix.rstrip("/")
    served = ServedApp(
        base_url=f"http://{host}:{port}{prefix}/v1",
        api_key=api_key,
        model_ids=list(models),
        app_name=cfg.app_name,
        models=dict(models),
    )
    try:
        wait_ready(served, cfg.ready_timeout_s)
    except BaseException:
        _delete_quietly(cfg.app_name)  # a half-started app would keep retrying engines in the background
        raise
    return served


@contextmanager
def served_app(models: dict[str, str], cfg: ServeConfig, *, deployer: "ActorHandle | None" = None) -> Iterator[ServedApp]:
    """`start_app` for the duration of the block (inside `cluster.local.ray_cluster`); the app is deleted after."""
    app = start_app(models, cfg, deployer=deployer)
    try:
        yield app
    finally:
        _delete_quietly(app.app_name)


def existing_app(endpoint: str, api_key: str | None) -> ServedApp:
    """A ServedApp for an endpoint someone else started: its model ids come from /v1/models."""
    request = urllib.request.Request(endpoint.rstrip("/") + "/models")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            ids = [m["id"] for m in json.load(r)["data"]]
    except Exception as e:  # unreachable, wrong key, not an OpenAI server: one line
        raise StagewiseError(f"--endpoint {endpoint}: cannot list models ({type(e).__name__}: {e})") from None
    return ServedApp(base_url=endpoint.rstrip("/"), api_key=api_key, model_ids=ids)


def delete_app(app: ServedApp) -> None:
    """Delete a running app (its engines and replicas); Serve itself stays up for other apps."""
    from ray import serve

    serve.delete(app.app_name, _blocking=True)


def _delete_quietly(app_name: str) -> None:
    from ray import serve

    try:
        serve.delete(app_name, _blocking=True)
    except Exception as e:  # already gone, or the cluster is shutting down: nothing left to free
        log.warning("serve: could not delete app %s: %s", app_name, e)


# ---------------------------------------------------------------------------------------------------------
# Readiness


def wait_ready(app: ServedApp, timeout_s: float, poll_s: float = 1.0) -> None:
    """Block until Serve reports the app RUNNING and `/v1/models` lists every model id.

    Fails fast, naming the model and vLLM's own reason, when a deployment fails (e.g. a corrupt checkpoint);
    a model still loading when the timeout passes is named too.
    """
    from tqdm import tqdm

    deadline = time.monotonic() + timeout_s
    with tqdm(total=len(app.model_ids), desc=f"serve: starting {app.app_name}", unit="model", leave=False,
              mininterval=10) as bar:
        while True:
            state, ready, failures, pending = _app_state(app)
            bar.update(len(ready) - bar.n)
            if failures:
                model_id, reason = failures[0]
                if not model_id:
                    raise StagewiseError(f"serving: app {app.app_name} failed to deploy: {reason}")
                raise StagewiseError(f"serving.models.{model_id}: failed to load {app.models[model_id]}: {reason}")
            if state == "RUNNING" and _lists_models(app):
                return
            if time.monotonic() > deadline:
                waiting = ", ".join(pending) or "the ingress"
                raise StagewiseError(
                    f"serving: {waiting} not ready after {timeout_s:.0f} s (raise serving.ready_timeout_s; "
                    f"`serve status` shows progress)"
                )
            time.sleep(poll_s)


def _app_state(app: ServedApp) -> tuple[str, list[str], list[tuple[str, str]], list[str]]:
    """(app status, ready model ids, [(failed model id, reason)], model ids still starting)."""
    from ray import serve

    status = serve.status().applications.get(app.app_name)
    if status is None:
        return "NOT_STARTED", [], [], list(app.model_ids)
    ready, failures, pending = [], [], []
    for model_id in app.model_ids:
        dep = next((d for name, d in status.deployments.items() if name.split(":")[-1] == model_id), None)
        if dep is None:
            pending.append(model_id)
        elif dep.status in ("DEPLOY_FAILED", "UNHEALTHY"):
            failures.append((model_id, failure_reason(dep.message or status.message)))
        elif dep.status == "HEALTHY":
            ready.append(model_id)
        else:
            pending.append(model_id)
    if not failures and status.status == "DEPLOY_FAILED":  # e.g. the ingress failed: no model to blame
        failures.append(("", failure_reason(status.message)))
    return status.status, ready, failures, pending


def failure_reason(message: str) -> str:
    """The line of a deployment's failure message that says why (its last exception), on one line."""
    lines = [l.strip() for l in (message or "").splitlines() if l.strip()]
    errors = [l for l in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", l)]
    reason = errors[-1] if errors else (lines[-1] if lines else "no reason given")
    return reason[:500]


def _lists_models(app: ServedApp) -> bool:
    request = urllib.request.Request(f"{app.base_url}/models")
    if app.api_key:
        request.add_header("Authorization", f"Bearer {app.api_key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            listed = {m["id"] for m in json.load(r)["data"]}
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return False  # the proxy is still starting or the route is not up yet
    return set(app.model_ids) <= listed
