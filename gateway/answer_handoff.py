"""A request's answer handed to its gateway in-process, the moment its workflow's code returns.

With eager start a plain request runs whole in the gateway that received it, and its outcome rows
are committed before the workflow returns. Waiting for the result the usual way asks the server
for the closed workflow's history (a long poll per request, which on the bench machine cost the
server about as much CPU as a whole search-attribute write, and the gateway the decoding of what
came back; docs/performance.md). So the worker hands the workflow's return value to the request
waiting here, and the gateway asks the server only when nothing comes: the run failed, was
evicted, or went to another worker.

What the client gets is what the workflow returned; the server records the same completion a
moment later. Should that completion never land (the gateway dies in between), another worker
replays the request and records its own answer, while the outcome rows keep the first: see
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from contracts.request import RequestResult


class AnswerHandOff:
    """Request id -> the gateway request waiting for its answer.

    Waiters live on the gateway's event loop; answers arrive from the workflow worker's
    activation threads, hence the lock and call_soon_threadsafe.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._lock = threading.Lock()

    def expect(self, request_id: str) -> asyncio.Future[RequestResult | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[RequestResult | None] = loop.create_future()
        with self._lock:
            self._waiting[request_id] = (loop, future)
        return future

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def deliver(self, request_id: str, answer: RequestResult | None) -> None:
        """The run's answer, or None when it ended without one here (the gateway then asks the
        server). Nobody waiting (another gateway's request, a replay) is nothing to do."""
        with self._lock:
            waiting = self._waiting.pop(request_id, None)
        if waiting is not None:
            loop, future = waiting
            loop.call_soon_threadsafe(_resolve, future, answer)


def _resolve(future: asyncio.Future, answer: RequestResult | None) -> None:
    if not future.done():
        future.set_result(answer)


class HandOffInterceptor(Interceptor):
    """Installed on the gateway's request worker: delivers each run's return value."""

    def __init__(self, handoff: AnswerHandOff) -> None:
        self._handoff = handoff

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        handoff = self._handoff

        class DeliverAnswer(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                request_id = workflow.info().workflow_id
                try:
                    answer = await super().execute_workflow(input)
                except BaseException:
                    # Failed, or evicted from this worker: the server has the last word.
                    handoff.deliver(request_id, None)
                    raise
                # A replay's answer was recorded long ago; nobody here is waiting for it.
                if not workflow.unsafe.is_replaying():
                    handoff.deliver(request_id, answer)
                return answer

        return DeliverAnswer
