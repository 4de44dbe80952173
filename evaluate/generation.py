"""Sending many conversations to a served model at once (policy answers and judge verdicts alike).

    gen = Generator(served.base_url, served.api_key, tokenizers={"sft": "runs/demo/models/sft"})
    outs = gen.generate("sft", [[{"role": "user", "content": "Hi"}]] * 64, {"temperature": 0, "max_tokens": 64})

STACK.md measured ~14 ms of CPU per HTTP request through Serve, which caps one-request-per-item evaluation
at ~4x a naive loop on small models. So by default (`endpoint="completions"`) conversations are rendered
here with the model's own chat template to token ids and sent as *lists* of prompts in one OpenAI
`/completions` request each (vLLM batches them in one engine step; token ids avoid a second BOS and the
server's re-tokenization). `endpoint="chat"` sends one `/chat/completions` request per conversation, for
models whose tokenizer is not at hand. Requests run concurrently on one asyncio loop.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Output:
    text: str
    finish_reason: str  # stop | length | error: <reason>


class Generator:
    """Concurrent batched generation against an OpenAI-compatible server (the study's Serve app)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        tokenizers: dict[str, str] | None = None,
        endpoint: Literal["completions", "chat"] = "completions",
        prompts_per_request: int = 32,
        max_concurrency: int = 32,
        timeout_s: float = 120,
        max_retries: int = 3,
    ):
        self.base_url = base_url
        self.api_key = api_key or "none"
        self.tokenizer_sources = tokenizers or {}
        self.endpoint = endpoint
        self.prompts_per_request = prompts_per_request
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._tokenizers: dict[str, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._client = None

    # -- public ------------------------------------------------------------------------------------------
    def generate(self, model: str, conversations: list[list[dict[str, str]]], sampling: dict[str, Any]) -> list[Output]:
        """One output per conversation, in order. A request the server rejects gives `error:` outputs."""
        if not conversations:
            return []
        return self._loop.run_until_complete(self._generate(model, conversations, sampling))

    def close(self) -> None:
        if self._client is not None:
            self._loop.run_until_complete(self._client.close())
        self._loop.close()

    # -- internals ---------------------------------------------------------------------------------------
    def _openai(self):
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s,
                                       max_retries=self.max_retries)
        return self._client

    def tokenizer(self, model: str):
        if model not in self._tokenizers:
            from transformers import AutoTokenizer

            source = self.tokenizer_sources.get(model)
            if source is None:
                raise KeyError(f"no tokenizer source for model {model!r}; use endpoint='chat'")
            self._tokenizers[model] = AutoTokenizer.from_pretrained(source)
        return self._tokenizers[model]

    def render(self, model: str, conversation: list[dict[str, str]]) -> list[int]:
        ids = self.tokenizer(model).apply_chat_template(conversation, tokenize=True, add_generation_prompt=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers 5 may return a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    async def _generate(self, model: str, conversations: list, sampling: dict[str, Any]) -> list[Output]:
        semaphore = asyncio.Semaphore(self.max_concurrency)
        if self.endpoint == "chat":
            tasks = [self._chat(model, c, sampling, semaphore) for c in conversations]
            return list(await asyncio.gather(*tasks))
        prompts = [self.render(model, c) for c in conversations]
        n = self.prompts_per_request
        chunks = [prompts[i : i + n] for i in range(0, len(prompts), n)]
        results = await asyncio.gather(*[self._complete(model, c, sampling, semaphore) for c in chunks])
        return [o for chunk in results for o in chunk]

    async def _complete(self, model: str, prompts: list[list[int]], sampling: dict[str, Any], sem) -> list[Output]:
        import openai

        try:
            async with sem:
                r = await self._openai().completions.create(model=model, prompt=prompts, **_params(sampling))
        except openai.BadRequestError as e:
            if len(prompts) == 1:
                return [Output("", f"error: {_reason(e)}")]
            # One bad prompt (e.g. longer than the context) must not sink its neighbours: split and retry.
            half = len(prompts) // 2
            return (await self._complete(model, prompts[:half], sampling, sem)) + (
                await self._complete(model, prompts[half:], sampling, sem)
            )
        choices = sorted(r.choices, key=lambda c: c.index)
        return [Output(c.text, c.finish_reason or "stop") for c in choices]

    async def _chat(self, model: str, conversation: list[dict[str, str]], sampling: dict[str, Any], sem) -> Output:
        import openai

        try:
            async with sem:
                r = await self._openai().chat.completions.create(model=model, messages=conversation, **_params(sampling))
        except openai.BadRequestError as e:
            return Output("", f"error: {_reason(e)}")
        choice = r.choices[0]
        return Output(choice.message.content or "", choice.finish_reason or "stop")


def _params(sampling: dict[str, Any]) -> dict[str, Any]:
    keys = ("temperature", "top_p", "max_tokens", "seed")
    return {k: sampling[k] for k in keys if sampling.get(k) is not None}


def _reason(e: Exception) -> str:
    return str(e).splitlines()[0][:300]
