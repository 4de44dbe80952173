"""The Serve deployment class stagewise gives Ray Serve LLM (`LLMConfig.server_cls`) for CPU engines: its
`LLMServer` runs vLLM's EngineCore as a fork of the replica, with the single model worker inside it.

Two things Ray Serve LLM and vLLM do by default cost a CPU machine a fresh import of vLLM (~17 s of CPU
here) per process, and three engines share two cores:
- Ray Serve LLM sets vLLM's executor to `mp` for every CPU engine. For one worker (no tensor parallelism,
  all a CPU engine can have) that adds a third process per engine, next to the Serve replica and vLLM's
  EngineCore, driven over a shared-memory queue whose poller shares the cores with everything else. vLLM
  itself picks its in-process `uni` executor for one worker, as its offline `LLM` class does.
- vLLM starts the EngineCore with `spawn` inside a Ray actor (and on CPU), so the child imports vLLM, torch
  and transformers again although the replica has just imported them. Forking inherits them. vLLM spawns
  there because a fork could inherit CUDA state or a running OpenMP pool and because the child must not use
  the parent's Ray connection: a CPU replica has initialised neither (the engine has not run a kernel when
  the EngineCore starts), and the EngineCore never calls Ray. Multiprocessing's forked children end with
  `os._exit`, so the inherited Ray core worker is never shut down from the child.
GPU engines (Ray executor) and anything with more than one worker are left as Ray Serve LLM configures them.
"""
from __future__ import annotations

import contextlib
import os

from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine
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
