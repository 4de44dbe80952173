"""Ray Serve LLM start-up hooks (`LLMConfig.callback_config`) for the sources stagewise serves.

Before each engine starts, Ray Serve LLM runs a "node initialization" task on every node of the engine's
placement group to download model files from a cloud mirror. stagewise serves local checkpoint folders and
hub ids without a mirror, for which that task downloads nothing (Ray's `download_model_files` returns the
id unchanged), yet each task is a fresh worker process importing torch and transformers: ~20 s of start-up
per engine on 2 cores. vLLM itself still resolves the source in the engine process.
"""
from ray.llm._internal.common.callbacks.base import CallbackBase


class SkipNodeDownload(CallbackBase):
    """Skip Ray Serve LLM's per-node model download step (there is no cloud mirror to download from)."""

    async def on_before_node_init(self) -> None:
        self.ctx.run_init_node = False
