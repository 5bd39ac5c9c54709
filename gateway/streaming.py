"""`stream: true`: server-sent events in OpenAI's chunk format.

The provider's chunks arrive in-process from the streaming activity (activities/streaming.py),
which runs on this process's private task queue. Until the first chunk or the workflow's result
arrives, nothing is sent, so errors found before any output (an unknown model, blocked input)
still get their proper HTTP status. After that, a failure arrives as an error event in the stream.
The last chunk's finish reason and usage come from the workflow's result, after the output checks
and the outcome write.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from contracts.chat import StreamChunk
from contracts.request import RequestInput, RequestResult
from gateway.errors import ApiError
from gateway.metrics import GatewayMetrics
from gateway.openai_wire import ChatCompletionRequest, pack_tool_call_id
from gateway.request_flow import (
    GatewayState,
    finish_request,
    raise_request_error,
    record_metrics,
    result_headers,
    start_request,
)
from gateway.shadow_calls import ShadowCalls


async def stream_request(
    state: GatewayState,
    http: Request,
    request: RequestInput,
    wire: ChatCompletionRequest,
    metrics: GatewayMetrics,
    began: float,
) -> Response:
    channel = state.channels.open(request.request_id)
    queue = channel.chunks
    try:
        handle = await start_request(state, request)
    except BaseException:
        state.channels.close(request.request_id)
        raise
    result_task = asyncio.create_task(finish_request(state, request, handle))
    result_task.add_done_callback(_settled(metrics, began))
    # A rollout's shadow call, once the stream has ended: never alongside the client's.
    result_task.add_done_callback(_shadow_when_answered(state.shadows, request))
    # Closing the channel when the client leaves stops the provider call (it is billed per token).
    disconnected = asyncio.create_task(_disconnect(http))
    include_usage = bool((wire.stream_options or {}).get("include_usage"))
    chunks = _Chunks(request.request_id, wire.model)

    # Hold the response back until there is output or a result.
    getter = asyncio.create_task(queue.get())
    await asyncio.wait({getter, result_task, disconnected}, return_when=asyncio.FIRST_COMPLETED)
    if disconnected.done():
        getter.cancel()
        state.channels.close(request.request_id)
        return Response(status_code=499)  # nobody will read it; the outcome records the why
    if not getter.done():
        getter.cancel()
        disconnected.cancel()
        state.channels.close(request.request_id)
        result = await result_task  # an ApiError here is answered with its own status
        if result.error is not None:
            raise_request_error(result, result_headers(result))
        if result.target is not None:
            chunks.model = f"{result.target.provider}/{result.target.model}"
        return StreamingResponse(
            chunks.whole(result, include_usage),
            media_type="text/event-stream",
            headers=result_headers(result),
        )

    # Chunks name the model that answers, as a whole answer does (`provider/model`).
    chunks.model = channel.answered_by or chunks.model

    async def live() -> AsyncIterator[str]:
        try:
            yield chunks.role()
            pending: asyncio.Task | None = getter
            while pending is not None:
                if not pending.done():
                    await asyncio.wait(
                        {pending, result_task, disconnected}, return_when=asyncio.FIRST_COMPLETED
                    )
                if disconnected.done():
                    return
                if not pending.done():
                    pending.cancel()
                    break
                for event in chunks.deltas(pending.result()):
                    yield event
                pending = asyncio.create_task(queue.get())
            while not queue.empty():
                for event in chunks.deltas(queue.get_nowait()):
                    yield event
            try:
                result = await result_task
            except ApiError as exc:
                yield chunks.error(exc.message, exc.type, exc.code)
                return
            if result.error is not None:
                yield chunks.error(result.error.message, result.error.type, result.error.code)
                return
            for event in chunks.ending(result, include_usage):
                yield event
        finally:
            disconnected.cancel()
            state.channels.close(request.request_id)

    return StreamingResponse(
        live(), media_type="text/event-stream", headers={"x-request-id": request.request_id}
    )


async def _disconnect(http: Request) -> None:
    """Returns when the client closes its connection. The body has been read by now, so the
    only message left to receive is the disconnect."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


def _shadow_when_answered(
    shadows: ShadowCalls, request: RequestInput
) -> Callable[[asyncio.Task], None]:
    def done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is None:
            shadows.start_if_sampled(request)

    return done


def _settled(metrics: GatewayMetrics, began: float) -> Callable[[asyncio.Task], None]:
    """Counts the request when its workflow ends, whether or not the client stayed to see it."""

    def record(task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            return  # an ApiError: counted by the error handler that answers it
        record_metrics(metrics, task.result(), time.perf_counter() - began)

    return record


class _Chunks:
    """OpenAI `chat.completion.chunk` events for one request."""

    def __init__(self, request_id: str, model: str) -> None:
        self.request_id = request_id
        self.model = model
        self.created = int(time.time())

    def _event(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        usage: dict[str, int] | None = None,
        choices: bool = True,
    ) -> str:
        body: dict[str, Any] = {
            "id": self.request_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            if choices
            else [],
        }
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"

    def role(self) -> str:
        return self._event({"role": "assistant", "content": ""})

    def deltas(self, chunk: StreamChunk) -> list[str]:
        events = []
        if chunk.text:
            events.append(self._event({"content": chunk.text}))
        if chunk.tool_calls:
            events.append(
                self._event(
                    {
                        "tool_calls": [
                            {
                                "index": d.index,
                                **(
                                    {
                                        "id": pack_tool_call_id(d.id, d.provider_state),
                                        "type": "function",
                                    }
                                    if d.id
                                    else {}
                                ),
                                "function": {
                                    k: v
                                    for k, v in (("name", d.name), ("arguments", d.arguments))
                                    if v is not None
                                },
                            }
                            for d in chunk.tool_calls
                        ]
                    }
                )
            )
        return events

    def ending(self, result: RequestResult, include_usage: bool) -> list[str]:
        response = result.response
        assert response is not None
        events = [self._event({}, finish_reason=response.finish_reason)]
        if include_usage:
            events.append(self._event({}, usage=_usage(result), choices=False))
        return [*events, "data: [DONE]\n\n"]

    async def whole(self, result: RequestResult, include_usage: bool) -> AsyncIterator[str]:
        """A complete answer (the route's output checks needed it whole) as one delta."""
        response = result.response
        assert response is not None
        delta: dict[str, Any] = {"role": "assistant", "content": response.text}
        if response.tool_calls:
            delta["tool_calls"] = [
                {
                    "index": i,
                    "id": pack_tool_call_id(c.id, c.provider_state),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for i, c in enumerate(response.tool_calls)
            ]
        yield self._event(delta)
        for event in self.ending(result, include_usage):
            yield event

    def error(self, message: str, kind: str, code: str | None) -> str:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return f"data: {json.dumps(body)}\n\n"


def _usage(result: RequestResult) -> dict[str, int]:
    usage = result.response.usage if result.response else None
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
