"""The OpenAI ingress of Ray Serve's LLM API, with an optional bearer API key.

Ray Serve's `OpenAiIngress` has no authentication and builds its FastAPI app before we could add middleware,
but `build_openai_app` takes an ingress class (`ingress_cls_config`). This subclass checks the key on every
route it exposes and otherwise defers to Ray's code: a route added here without a check would be open, so
each route of `DEFAULT_ENDPOINTS` is overridden (tests/serve checks the set stays in step with Ray's).
"""

import hmac
from typing import Annotated

from fastapi import Form, HTTPException, Request, status
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

GUARDED_ROUTES = frozenset(
    {"models", "model_data", "completions", "chat", "embeddings", "transcriptions", "score", "tokenize", "detokenize"}
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
