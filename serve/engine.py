"""The Serve deployment class stagewise gives Ray Serve LLM (`LLMConfig.server_cls`): its `LLMServer`, whose
vLLM engine runs a single-process model worker inside the EngineCore process on CPU.

Ray Serve LLM sets vLLM's executor to `mp` for every CPU engine. For one worker (no tensor parallelism, all a
CPU engine can have) that adds a third process per engine next to the Serve replica and vLLM's EngineCore: a
worker that imports vLLM again (~17 s of CPU here), loads the weights and is driven over a shared-memory queue
whose poller shares the cores with everything else. vLLM itself picks its in-process `uni` executor for one
worker, as its offline `LLM` class does; this gives the served engine the same. GPU engines (Ray executor) and
anything with more than one worker are left as Ray Serve LLM configures them.
"""
from __future__ import annotations

from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine
from ray.serve.llm import LLMServer


def run_single_worker_in_process(parallel_config) -> None:
    """vLLM's `ParallelConfig`: `mp` with one worker -> `uni` (the worker lives in the EngineCore process)."""
    if parallel_config.world_size == 1 and parallel_config.distributed_executor_backend == "mp":
        parallel_config.distributed_executor_backend = "uni"


class InProcessWorkerEngine(VLLMEngine):
    def _start_async_llm_engine(self, vllm_engine_args, vllm_engine_config, placement_group):
        run_single_worker_in_process(vllm_engine_config.parallel_config)
        return super()._start_async_llm_engine(vllm_engine_args, vllm_engine_config, placement_group)


class InProcessLLMServer(LLMServer):
    """`LLMServer` with `InProcessWorkerEngine`; deployments show up as `InProcessLLMServer:<model id>`."""

    _default_engine_cls = InProcessWorkerEngine
