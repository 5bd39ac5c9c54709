"""Streaming a provider's answer straight to the HTTP response that asked for it.

The activity runs on a task queue private to the gateway process holding the client's connection
(the DESIGN's streaming path), so chunks pass in-process, through a queue keyed by request id,
while Temporal still records the attempt, its retries and its outcome. A stream that fails before
anything reached the client may be retried or fall back; once text has gone out, it may not: the
client would see the answer twice.
"""

from __future__ import annotations

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.provider_calls import configured_provider
from activities.providers import ProviderError, ProviderRegistry
from activities.providers.pricing import cost_usd
from contracts.chat import ChatResponse, StreamChunk, ToolCall, Usage
from contracts.request import ProviderCallInput

STREAM_FAILED_AFTER_OUTPUT = "StreamFailedAfterOutput"


class StreamChannels:
    """Request id -> the queue its HTTP response reads from, within one gateway process."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[StreamChunk]] = {}

    def open(self, request_id: str) -> asyncio.Queue[StreamChunk]:
        queue: asyncio.Queue[StreamChunk] = asyncio.Queue()
        self._queues[request_id] = queue
        return queue

    def close(self, request_id: str) -> None:
        self._queues.pop(request_id, None)

    def get(self, request_id: str) -> asyncio.Queue[StreamChunk] | None:
        return self._queues.get(request_id)


class StreamingActivities:
    def __init__(self, registry: ProviderRegistry, channels: StreamChannels) -> None:
        self._registry = registry
        self._channels = channels

    @activity.defn(name="stream_provider")
    async def stream_provider(self, call: ProviderCallInput) -> ChatResponse:
        queue = self._channels.get(call.request_id)
        if queue is None:
            raise ApplicationError(
                "the client is no longer connected", type="ClientGone", non_retryable=True
            )
        provider = configured_provider(self._registry, call.target.provider)
        started = time.perf_counter()
        text: list[str] = []
        calls: dict[int, dict] = {}  # index -> id, name, argument fragments, provider state
        final: StreamChunk | None = None
        try:
            async for chunk in provider.stream(
                call.request_id, call.target, call.chat, activity.info().attempt
            ):
                for delta in chunk.tool_calls:
                    so_far = calls.setdefault(
                        delta.index, {"id": "", "name": "", "arguments": "", "state": {}}
                    )
                    so_far["id"] = delta.id or so_far["id"]
                    so_far["name"] = delta.name or so_far["name"]
                    so_far["arguments"] += delta.arguments
                    so_far["state"] = delta.provider_state or so_far["state"]
                text.append(chunk.text)
                if chunk.finish_reason is not None:
                    final = chunk
                queue.put_nowait(chunk)
                activity.heartbeat()
        except ProviderError as exc:
            if any(text) or calls:
                raise ApplicationError(
                    f"{exc} (after part of the answer was sent)",
                    type=STREAM_FAILED_AFTER_OUTPUT,
                    non_retryable=True,
                ) from None
            raise exc.to_application_error() from exc
        if final is None:
            raise ApplicationError(
                "the stream ended without its final event",
                type=STREAM_FAILED_AFTER_OUTPUT,
                non_retryable=True,
            )
        usage = final.usage or Usage()
        price = final.cost_usd
        if price is None:
            kind = getattr(provider, "pricing_kind", call.target.provider)
            price = cost_usd(kind, call.target.model, usage)
        return ChatResponse(
            provider=call.target.provider,
            model=call.target.model,
            text="".join(text),
            finish_reason=final.finish_reason or "stop",
            usage=usage,
            cost_usd=price,
            latency_ms=(time.perf_counter() - started) * 1000,
            tool_calls=[
                ToolCall(
                    id=c["id"],
                    name=c["name"],
                    arguments=c["arguments"] or "{}",
                    provider_state=c["state"],
                )
                for _, c in sorted(calls.items())
            ],
            provider_state=final.provider_state,
        )
