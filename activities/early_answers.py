"""Answers handed over in-process, before the workflow's completion reaches the server.

A request's settle step runs in the gateway that started the request (eager start), right after
it commits the outcome rows. From there the answer is final: what the workflow still does is set
its summary and search attributes and return that same answer. So the gateway waiting for the
request takes the answer here instead of waiting for the completion to go through the server and
come back as the workflow's result. If settle ran elsewhere (another gateway took the request
over), nothing arrives here and the gateway waits for the result as before.
"""

from __future__ import annotations

import asyncio

from contracts.request import RequestResult


class EarlyAnswers:
    """Request id -> the answer a gateway request is waiting for. Used on one event loop."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[RequestResult]] = {}

    def expect(self, request_id: str) -> asyncio.Future[RequestResult]:
        future: asyncio.Future[RequestResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def settled(self, answer: RequestResult) -> None:
        future = self._waiting.pop(answer.request_id, None)
        if future is not None and not future.done():
            future.set_result(answer)
