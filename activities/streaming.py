"""Streaming a provider's answer straight to the HTTP response that asked for it.

The activity runs on a task queue private to the gateway process holding the client's connection
(the DESIGN's streaming path), so chunks pass in-process, through a queue keyed by request id,
while Temporal still records the attempt, its retries and its outcome. A stream that fails before
anything reached the client may be retried or fall back; once text has gone out, it may not: the
client would see the answer twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.provider_calls import configured_provider
from activities.providers import ProviderError, ProviderRegistry
from activities.providers.pricing import cost_usd
from contracts.chat import ChatResponse, StreamChunk, ToolCall, ToolCallDelta, Usage
from contracts.request import ProviderCallInput, StreamOutputCheck
from guardrails import enforcement
from guardrails.findings import Registry
from guardrails.redaction import Vault
from guardrails.stream_guard import OutputStreamGuard, Release

STREAM_FAILED_AFTER_OUTPUT = "StreamFailedAfterOutput"
CLIENT_GONE = "ClientGone"


@dataclass
class StreamChannel:
    """One streamed request's link between the activity and the HTTP response."""

    chunks: asyncio.Queue[StreamChunk] = field(default_factory=asyncio.Queue)
    client_gone: asyncio.Event = field(default_factory=asyncio.Event)
    answered_by: str | None = None
    """provider/model of the call whose chunks are queued, as a whole answer names it."""


class StreamChannels:
    """Request id -> its channel, within one gateway process."""

    def __init__(self) -> None:
        self._channels: dict[str, StreamChannel] = {}

    def open(self, request_id: str) -> StreamChannel:
        channel = StreamChannel()
        self._channels[request_id] = channel
        return channel

    def close(self, request_id: str) -> None:
        """The response is over, finished or abandoned: a call still producing stops."""
        channel = self._channels.pop(request_id, None)
        if channel is not None:
            channel.client_gone.set()

    def get(self, request_id: str) -> StreamChannel | None:
        return self._channels.get(request_id)


class StreamingActivities:
    def __init__(
        self, registry: ProviderRegistry, channels: StreamChannels, scanner: Registry
    ) -> None:
        self._registry = registry
        self._channels = channels
        self._scanner = scanner

    @activity.defn(name="stream_provider")
    async def stream_provider(self, call: ProviderCallInput) -> ChatResponse:
        channel = self._channels.get(call.request_id)
        if channel is None or channel.client_gone.is_set():
            raise _client_gone()
        provider = configured_provider(self._registry, call.target.provider)
        # Set before any chunk is queued; a fallback that answers instead sets its own.
        channel.answered_by = f"{call.target.provider}/{call.target.model}"
        started = time.perf_counter()
        assembly = _Assembly()
        relay = asyncio.create_task(
            _relay(
                provider.stream(call.request_id, call.target, call.chat, _attempt()),
                channel,
                assembly,
                self._guard(call.output_check),
            )
        )
        gone = asyncio.create_task(channel.client_gone.wait())
        # Heartbeat on a clock, not per chunk: a model thinking for long before its first token
        # is alive, and must not be timed out and paid for twice.
        beat = _heartbeat_interval()
        try:
            while not relay.done():
                await asyncio.wait({relay, gone}, timeout=beat, return_when=asyncio.FIRST_COMPLETED)
                activity.heartbeat()
                if gone.done() and not relay.done():
                    # The client left: stop reading, which closes the upstream stream, so the
                    # provider stops generating (and billing) an answer nobody will read.
                    relay.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await relay
                    raise _client_gone()
        finally:
            gone.cancel()
            relay.cancel()  # also when Temporal cancels this activity
        try:
            final = relay.result()
        except ProviderError as exc:
            if assembly.has_output:
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
        text, calls = assembly.text(), assembly.tool_calls()
        usage = final.usage or Usage()
        price = final.cost_usd
        if price is None:
            kind = getattr(provider, "pricing_kind", call.target.provider)
            price = cost_usd(kind, call.target.model, usage)
        return ChatResponse(
            provider=call.target.provider,
            model=call.target.model,
            text=text,
            finish_reason=final.finish_reason or "stop",
            usage=usage,
            cost_usd=price,
            latency_ms=(time.perf_counter() - started) * 1000,
            tool_calls=calls,
            provider_state=final.provider_state,
        )

    def _guard(self, check: StreamOutputCheck | None) -> _Guard | None:
        if check is None:
            return None
        text = OutputStreamGuard(check.policy, self._scanner, check.vault, check.restore_output)
        return _Guard(text, check, self._scanner)


@dataclass
class _Guard:
    """A streamed answer's output check: the text as it flows, the tool calls once whole."""

    text: OutputStreamGuard
    check: StreamOutputCheck
    scanner: Registry


class _Assembly:
    """The answer so far, rebuilt from its chunks for the activity's result."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict] = {}  # index -> id, name, argument fragments, state

    @property
    def has_output(self) -> bool:
        return any(self._text) or bool(self._calls)

    def add(self, chunk: StreamChunk) -> None:
        self._text.append(chunk.text)
        for delta in chunk.tool_calls:
            so_far = self._calls.setdefault(
                delta.index, {"id": "", "name": "", "arguments": "", "state": {}}
            )
            so_far["id"] = delta.id or so_far["id"]
            so_far["name"] = delta.name or so_far["name"]
            so_far["arguments"] += delta.arguments
            so_far["state"] = delta.provider_state or so_far["state"]

    def text(self) -> str:
        return "".join(self._text)

    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(
                id=c["id"],
                name=c["name"],
                arguments=c["arguments"] or "{}",
                provider_state=c["state"],
            )
            for _, c in sorted(self._calls.items())
        ]


async def _relay(
    stream: AsyncIterator[StreamChunk],
    channel: StreamChannel,
    assembly: _Assembly,
    guard: _Guard | None,
) -> StreamChunk | None:
    """Pass the provider's chunks to the response as they come; returns the final chunk.

    With a guard, only what it releases goes out (checked, redacted, placeholders restored), and
    tool calls go out whole once the answer has ended and they are checked too."""
    final = None
    async for chunk in stream:
        assembly.add(chunk)
        if chunk.finish_reason is not None:
            final = chunk
        if guard is None:
            channel.chunks.put_nowait(chunk)
            continue
        if _send(channel, guard.text.feed(chunk.text)):
            # Nothing more of this answer may go out; stop reading it, so that the model stops
            # writing it. The workflow's output check records the block from the raw text.
            return StreamChunk(finish_reason="content_filter")
    if guard is not None and _send(channel, guard.text.finish()):
        return StreamChunk(finish_reason="content_filter")
    calls = assembly.tool_calls() if guard is not None else []
    if guard is not None and calls and not _send_tool_calls(channel, calls, guard):
        return StreamChunk(finish_reason="content_filter")
    return final


def _send(channel: StreamChannel, release: Release) -> bool:
    """Queue what the guard released; True when the answer is blocked from here on."""
    if release.text:
        channel.chunks.put_nowait(StreamChunk(text=release.text))
    return release.blocked


def _send_tool_calls(channel: StreamChannel, calls: list[ToolCall], guard: _Guard) -> bool:
    """Check the model's tool calls whole and queue them; False when the check blocks them."""
    verdict, checked = enforcement.check_answer(
        ChatResponse(provider="", model="", text="", tool_calls=calls),
        guard.check.policy,
        guard.scanner,
        Vault(guard.check.vault),
    )
    if verdict.action == "block":
        return False
    if guard.check.restore_output:
        checked = enforcement.restore_answer(checked, Vault(guard.check.vault))
    channel.chunks.put_nowait(
        StreamChunk(
            tool_calls=[
                ToolCallDelta.whole(index, call) for index, call in enumerate(checked.tool_calls)
            ]
        )
    )
    return True


def _attempt() -> int:
    return activity.info().attempt


def _heartbeat_interval() -> float:
    timeout = activity.info().heartbeat_timeout
    return timeout.total_seconds() / 3 if timeout else 10.0


def _client_gone() -> ApplicationError:
    return ApplicationError(
        "the client is no longer connected", type=CLIENT_GONE, non_retryable=True
    )
