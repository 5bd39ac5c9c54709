"""The gateway answers from settle when settle ran in its process, and from the workflow's
result otherwise; it never waits for both."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from activities.early_answers import EarlyAnswers
from contracts.chat import ChatMessage, ChatRequest
from contracts.request import RequestInput, RequestResult
from gateway.request_flow import run_request

REQUEST = RequestInput(
    request_id="chatcmpl-early",
    tenant_id="demo",
    model="chat",
    chat=ChatRequest(messages=[ChatMessage(role="user", content="hi")]),
)


class Handle:
    """A started workflow whose result arrives when `completed` is set."""

    def __init__(self, result: RequestResult) -> None:
        self.completed = asyncio.Event()
        self._result = result
        self.cancelled = False

    async def result(self) -> RequestResult:
        try:
            await self.completed.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return self._result


class Client:
    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def start_workflow(self, *args, **kwargs) -> Handle:
        return self.handle


def gateway_state(handle: Handle, answers: EarlyAnswers) -> SimpleNamespace:
    settings = SimpleNamespace(
        request_task_queue="q", request_timeout_seconds=30, request_task_timeout_seconds=10
    )
    return SimpleNamespace(settings=settings, client=Client(handle), answers=answers)


async def test_a_settled_answer_is_sent_without_waiting_for_the_workflow() -> None:
    answers = EarlyAnswers()
    handle = Handle(RequestResult(request_id=REQUEST.request_id, route="from-the-workflow"))
    state = gateway_state(handle, answers)
    running = asyncio.create_task(run_request(state, REQUEST))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    answers.settled(RequestResult(request_id=REQUEST.request_id, route="from-settle"))
    answer = await asyncio.wait_for(running, timeout=5)
    assert answer.route == "from-settle"
    await asyncio.sleep(0)
    assert handle.cancelled, "the wait for the workflow's result is given up"
    # Nothing is left behind for a later request with another id.
    answers.settled(RequestResult(request_id=REQUEST.request_id, route="late"))
    assert answers._waiting == {}


async def test_without_a_settled_answer_the_workflow_result_is_the_answer() -> None:
    answers = EarlyAnswers()
    handle = Handle(RequestResult(request_id=REQUEST.request_id, route="from-the-workflow"))
    state = gateway_state(handle, answers)
    running = asyncio.create_task(run_request(state, REQUEST))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    # Another request's answer does not end this one.
    answers.settled(RequestResult(request_id="chatcmpl-other", route="from-settle"))
    await asyncio.sleep(0.01)
    assert not running.done()
    handle.completed.set()
    answer = await asyncio.wait_for(running, timeout=5)
    assert answer.route == "from-the-workflow"
    assert answers._waiting == {}
