"""The contract every provider adapter implements, and the registry that finds them by name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from activities.providers.model_catalog import ModelCapabilities
from contracts.chat import ChatRequest, ChatResponse, StreamChunk
from contracts.routing import RouteTarget


class ChatProvider(Protocol):
    name: str

    def target_problem(self, model: str, options: dict) -> str | None:
        """Why this provider cannot serve `model` with `options`, or None if it can.

        Routes are checked with this before any call, so a misconfigured variant is refused up
        front with the reason instead of failing (or being silently misread) at call time.
        """
        ...

    def prices(self, model: str, options: dict) -> tuple[float, float] | None:
        """USD per million input and output tokens of `model`, None when it has no price: what
        budgets hold a request's worst case at before its call."""
        ...

    def known_models(self) -> list[str]:
        """Models this provider is known to serve (what /v1/models lists as provider/model);
        others may still be served."""
        ...

    def capabilities(self, model: str, options: dict) -> ModelCapabilities:
        """What `model` can do (context window, tools, structured output), None where unknown:
        what routing checks a request and a route's requirements against."""
        ...

    def region(self, model: str, options: dict) -> str | None:
        """Where calls to `model` are processed ('eu-central-1', or 'eu' for a cross-region
        inference profile), None where unknown: what a route's `regions` constraint checks."""
        ...

    async def complete(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> ChatResponse:
        """One call. Raise a ProviderError subclass on failure; never retry internally."""
        ...

    def stream(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> AsyncIterator[StreamChunk]:
        """The same call, streamed. A stream that ends without its final event raises
        ProviderStreamInterrupted; the last chunk carries finish_reason and usage."""
        ...


class ProviderRegistry:
    def __init__(self, providers: Iterable[ChatProvider]) -> None:
        self._providers = {p.name: p for p in providers}

    def get(self, name: str) -> ChatProvider | None:
        return self._providers.get(name)

    def names(self) -> list[str]:
        return sorted(self._providers)
