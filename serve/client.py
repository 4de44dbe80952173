"""The client the rest of stagewise uses to talk to the served app (any OpenAI-compatible endpoint).

    client = ServeClient(app.base_url, app.api_key, tokenizers=app.models)
    results = client.chat_many_sync("sft", [[{"role": "user", "content": "hi"}]] * 100,
                                    {"temperature": 0.0, "max_tokens": 64, "seed": 0})

Async with bounded concurrency, a timeout per request, and retries with exponential backoff and jitter on what
passes (connection errors, timeouts, 408/429/5xx, and a 404 while the app is still (re)starting); any other
4xx raises at once, except in `chat_many`: there a conversation the server rejects (HTTP 400, e.g. longer than
the context) comes back as a result whose `finish_reason` is `error: <reason>`, so one bad item cannot sink
the others in its batch (the evaluation pipeline stores it as unscored). Picklable: the HTTP client is created lazily in whichever process and event loop uses it,
so Ray actors can take a `ServeClient` as an argument.

Two paths, same results. Without `tokenizers`, each conversation is one `/v1/chat/completions` request.
With `tokenizers` (model id -> HF dir or hub id, e.g. `ServedApp.models`), `chat_many` renders the chat
template here and sends up to `batch_size` conversations per `/v1/completions` request: on small models the
cost of a request (~14 ms of CPU in proxy and ingress) dwarfs generation, and batching pays it once per batch
(BENCHMARKS.md, serve/). Tokens are what the chat endpoint would build: the same template, no extra BOS.
`prerender` renders known conversations ahead, in the process that builds the client: the copies Ray actors
get then carry the prompts and never import transformers (~6 s of CPU per actor, before its first request).

`complete_many(model, prompts, sampling)` sends raw prompt strings to `/v1/completions` unchanged (no chat
template; the server's tokenizer adds its BOS as for any plain completion): a classifier trained on its own
prompt format (HarmBench's Llama-2 classifier) is called exactly as published. Each result carries the
prompt's token ids as the server tokenized them, so a caller can check what the model saw.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Sampling keys that are named parameters of the OpenAI API; anything else (top_k, min_p, stop_token_ids, ...)
# goes to vLLM through `extra_body`.
OPENAI_SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty")
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class ServedApp:
    """A running OpenAI-compatible app: where to send requests, with which key, for which model ids (built by
    `serve.app.start_app`, or `serve.app.existing_app` for an endpoint someone else started)."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1
    api_key: str | None
    model_ids: list[str]
    app_name: str = "stagewise"
    models: dict[str, str] = field(default_factory=dict)  # model id -> weights it serves


@dataclass
class ChatResult:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    sampling: dict[str, Any] = field(default_factory=dict)  # exactly what was sent, for the graded row
    attempts: int = 1  # requests it took (1 = no retry)
    prompt_token_ids: list[int] | None = None  # what the server tokenized (the completions paths)
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # native tool calls: id, name, arguments (JSON)


class ServeClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        max_concurrency: int = 32,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        tokenizers: dict[str, str] | None = None,
        batch_size: int = 32,
    ):
        if max_concurrency < 1 or batch_size < 1 or max_retries < 0:
            raise ValueError("max_concurrency and batch_size must be >= 1, max_retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.tokenizers = dict(tokenizers or {})
        self.batch_size = batch_size
        self._rendered: dict[tuple[str, str], str] = {}  # (model, conversation) -> prompt; pickled
        self._reset()

    # -- lifecycle: one HTTP client and semaphore per event loop; nothing of it is pickled ----------------
    def _reset(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None
        self._semaphore: asyncio.Semaphore | None = None
        self._templates: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for k in ("_loop", "_client", "_semaphore", "_templates"):
            state.pop(k)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _http(self):
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # httpx clients cannot cross event loops
            import openai

            # The SDK's own retries are off: ours know when a 404 is transient.
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self.api_key or "none", timeout=self.timeout_s, max_retries=0
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
        self._client = None

    # -- public API ----------------------------------------------------------------------------------------
    async def chat(self, model: str, messages: list[dict], sampling: dict,
                   tools: list[dict] | None = None) -> ChatResult:
        """One chat completion (greedy, seeded or sampled as `sampling` says); `tools`: OpenAI tool schemas, the
        calls come back in `tool_calls` (an agent loop, evaluate/odcv/agent.py)."""
        client = self._http()
        named, extra = _split_sampling(sampling)
        if tools:
            named = {**named, "tools": tools}

        async def call():
            r = await client.chat.completions.create(
                model=model, messages=messages, stream=False, extra_body=extra or None, **named
            )
            c = r.choices[0]
            usage = r.usage
            calls = [{"id": t.id, "name": t.function.name, "arguments": t.function.arguments or ""}
                     for t in (c.message.tool_calls or []) if getattr(t, "function", None)]
            return ChatResult(
                text=c.message.content or "",
                finish_reason=c.finish_reason or "",
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                model=r.model or model,
                sampling=dict(sampling),
                tool_calls=calls,
            )

        async with self._semaphore:
            return await self._with_retries(call, model)

    async def chat_many(self, model: str, conversations: list[list[dict]], sampling: dict) -> list[ChatResult]:
        """Every conversation's completion, in order; batched through /v1/completions when it can be.

        A conversation the server rejects (HTTP 400) gives an `error: ...` result instead of raising.
        """
        if model in self.tokenizers:
            batches = [conversations[i : i + self.batch_size] for i in range(0, len(conversations), self.batch_size)]
            done = await asyncio.gather(*(self._complete_or_split(model, b, sampling) for b in batches))
            return [r for batch in done for r in batch]
        return list(await asyncio.gather(*(self._chat_or_error(model, m, sampling) for m in conversations)))

    def chat_many_sync(self, model: str, conversations: list[list[dict]], sampling: dict) -> list[ChatResult]:
        """`chat_many` for code without an event loop (Ray Data batch functions, scripts)."""

        async def run():
            try:
                return await self.chat_many(model, conversations, sampling)
            finally:
                await self.aclose()

        return asyncio.run(run())

    async def complete_many(self, model: str, prompts: list[str], sampling: dict) -> list[ChatResult]:
        """Each raw prompt's completion, in order, `batch_size` prompts per /v1/completions request; a prompt the
        server rejects (HTTP 400) gives an `error: ...` result instead of raising."""
        batches = [prompts[i : i + self.batch_size] for i in range(0, len(prompts), self.batch_size)]

        async def send(batch: list[str]) -> list[ChatResult]:
            return await self._complete_prompts(model, batch, sampling, {})

        done = await asyncio.gather(*(self._or_split(model, b, sampling, send) for b in batches))
        return [r for batch in done for r in batch]

    def complete_many_sync(self, model: str, prompts: list[str], sampling: dict) -> list[ChatResult]:
        """`complete_many` for code without an event loop (graders in Ray Data batch functions, scripts)."""

        async def run():
            try:
                return await self.complete_many(model, prompts, sampling)
            finally:
                await self.aclose()

        return asyncio.run(run())

    async def list_models(self) -> list[str]:
        page = await self._http().models.list()
        return [m.id for m in page.data]

    async def _chat_or_error(self, model: str, messages: list[dict], sampling: dict) -> ChatResult:
        import openai

        try:
            return await self.chat(model, messages, sampling)
        except openai.BadRequestError as e:
            return _rejected(model, sampling, e)

    async def _complete_or_split(self, model: str, conversations: list[list[dict]], sampling: dict) -> list[ChatResult]:
        async def send(batch: list[list[dict]]) -> list[ChatResult]:
            return await self._complete_batch(model, batch, sampling)

        return await self._or_split(model, conversations, sampling, send)

    async def _or_split(self, model: str, items: list, sampling: dict, send) -> list[ChatResult]:
        import openai

        try:
            return await send(items)
        except openai.BadRequestError as e:
            if len(items) == 1:
                return [_rejected(model, sampling, e)]
            # Find the rejected item(s) by halving; the rest are answered as usual.
            half = len(items) // 2
            first, second = await asyncio.gather(self._or_split(model, items[:half], sampling, send),
                                                 self._or_split(model, items[half:], sampling, send))
            return first + second

    # -- batched path ---------------------------------------------------------------------------------------
    def prerender(self, model: str, conversations: list[list[dict]]) -> None:
        """Render these conversations now; `render` (here or in a pickled copy of this client) looks them up."""
        if model in self.tokenizers:
            for messages in conversations:
                self._rendered[(model, _conversation_key(messages))] = self._render(model, messages)

    def render(self, model: str, messages: list[dict]) -> str:
        """The prompt text the chat endpoint would build for `messages` (the model's own chat template)."""
        return self._rendered.get((model, _conversation_key(messages))) or self._render(model, messages)

    def _render(self, model: str, messages: list[dict]) -> str:
        tok = self._templates.get(model)
        if tok is None:
            from transformers import AutoTokenizer

            tok = self._templates[model] = AutoTokenizer.from_pretrained(self.tokenizers[model])
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    async def _complete_batch(self, model: str, conversations: list[list[dict]], sampling: dict) -> list[ChatResult]:
        prompts = [self.render(model, m) for m in conversations]
        # The template already holds BOS.
        return await self._complete_prompts(model, prompts, sampling, {"add_special_tokens": False})

    async def _complete_prompts(self, model: str, prompts: list[str], sampling: dict, server: dict) -> list[ChatResult]:
        client = self._http()
        named, extra = _split_sampling(sampling)
        # Token ids come back so each item gets its own token counts (and raw callers see what was tokenized).
        extra = {**extra, **server, "return_token_ids": True}

        async def call():
            r = await client.completions.create(model=model, prompt=prompts, extra_body=extra, **named)
            by_index = sorted(r.choices, key=lambda c: c.index)
            if len(by_index) != len(prompts):
                raise RuntimeError(f"{model}: {len(prompts)} prompts sent, {len(by_index)} completions returned")
            return [
                ChatResult(
                    text=c.text,
                    finish_reason=c.finish_reason or "",
                    prompt_tokens=len(getattr(c, "prompt_token_ids", None) or []),
                    completion_tokens=len(getattr(c, "token_ids", None) or []),
                    model=r.model or model,
                    sampling=dict(sampling),
                    prompt_token_ids=list(getattr(c, "prompt_token_ids", None) or []) or None,
                )
                for c in by_index
            ]

        async with self._semaphore:
            return await self._with_retries(call, model)

    # -- retries -------------------------------------------------------------------------------------------
    async def _with_retries(self, call, model: str):
        import openai

        attempt = 0
        while True:
            attempt += 1
            try:
                result = await call()
            except (openai.APIConnectionError, openai.APIStatusError) as e:  # APITimeoutError is a connection error
                if attempt > self.max_retries or not await self._transient(e, model):
                    raise
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                log.info("serve client: %s on %s (attempt %d), retrying in %.1fs", _describe(e), model, attempt, delay)
                await asyncio.sleep(delay)
                continue
            for r in result if isinstance(result, list) else [result]:
                r.attempts = attempt
            return result

    async def _transient(self, e: Exception, model: str) -> bool:
        import openai

        if isinstance(e, openai.APIConnectionError):
            return True
        status = getattr(e, "status_code", None)
        if status in RETRYABLE_STATUS:
            return True
        if status == 404:
            # A 404 is transient only while the app is (re)starting: its route is gone, or it is up and lists the
            # model. If the app answers and does not list the model, the id is wrong and retrying cannot help.
            try:
                return model in await self.list_models()
            except (openai.APIConnectionError, openai.APIStatusError):
                return True
        return False


def _conversation_key(messages: list[dict]) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def _split_sampling(sampling: dict) -> tuple[dict, dict]:
    if "n" in sampling and sampling["n"] != 1:
        raise ValueError("sampling.n: one completion per request; draw several samples with different seeds")
    named = {k: v for k, v in sampling.items() if k in OPENAI_SAMPLING_KEYS}
    extra = {k: v for k, v in sampling.items() if k not in OPENAI_SAMPLING_KEYS and k != "n"}
    return named, extra


def _rejected(model: str, sampling: dict, e: Exception) -> ChatResult:
    reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
    return ChatResult(text="", finish_reason=f"error: {reason}", prompt_tokens=0, completion_tokens=0, model=model,
                      sampling=dict(sampling))


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    return f"HTTP {status}" if status else type(e).__name__
