"""A request's time limits and its client's lifetime.

- A request that runs out of time still settles: its outcome row is written, so a slow variant
  counts against itself in every later decision.
- A streamed call stops when its client goes away, is abandoned when the gateway holding the
  client is gone, and is not retried (and paid twice) because its first token is slow.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from contracts.chat import ChatMessage, ChatRequest
from contracts.request import RequestInput
from contracts.routing import RouteTarget
from gateway.app import create_app
from gateway.request_flow import backstop_timeout_seconds
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from tests.conftest import serving
from workflows.request import RequestWorkflow


def simulated(variant: str, weight: float = 1.0, **options: object) -> RouteTarget:
    return RouteTarget(
        variant=variant,
        provider="simulated",
        model="sim-fast",
        weight=weight,
        options={"error_rate": 0.0, "echo": True, **options},
    )


def request_input(stack, route: str, content: str = "hello", **fields: object) -> RequestInput:
    return RequestInput(
        request_id=f"chatcmpl-{uuid.uuid4().hex}",
        tenant_id="demo",
        model=route,
        chat=ChatRequest(messages=[ChatMessage(role="user", content=content)]),
        provider_task_queue=stack.settings.request_task_queue,
        **fields,
    )


async def run_workflow(stack, request: RequestInput, timeout: timedelta):
    return await stack.client.execute_workflow(
        RequestWorkflow.run,
        request,
        id=request.request_id,
        task_queue=stack.settings.request_task_queue,
        execution_timeout=timeout,
    )


async def test_a_request_that_runs_out_of_time_still_records_its_outcome(stack) -> None:
    # Both variants hang for longer than the whole request may take.
    publish_route(
        stack.engine,
        "hangs",
        [simulated("primary", stall_ms=6000), simulated("backup", weight=0, stall_ms=6000)],
    )
    request = request_input(stack, "hangs")
    result = await run_workflow(stack, request, timedelta(seconds=3))
    assert result.error is not None and result.error.http_status == 504
    assert result.error.code == "ProviderTimeout"
    rows = {row.arm: row for row in outcomes_for_request(stack.engine, request.request_id)}
    # The primary ran out the clock; no time was left to start the backup.
    assert set(rows) == {"primary"}
    assert (rows["primary"].status, rows["primary"].error_class) == ("error", "ProviderTimeout")
    assert rows["primary"].variant == "primary"


async def test_a_deadline_between_variants_keeps_every_failed_arm(stack) -> None:
    # The primary fails fast; the backup hangs past the deadline: both arms are recorded.
    publish_route(
        stack.engine,
        "fails-then-hangs",
        [
            simulated("primary", error_rate=1.0),
            simulated("backup", weight=0, stall_ms=6000),
        ],
    )
    request = request_input(stack, "fails-then-hangs")
    result = await run_workflow(stack, request, timedelta(seconds=4))
    assert result.error is not None and result.error.code == "ProviderTimeout"
    rows = {row.arm: row for row in outcomes_for_request(stack.engine, request.request_id)}
    assert rows["primary"].error_class == "ProviderUnavailable"
    assert rows["fallback-1"].error_class == "ProviderTimeout"
    assert rows["fallback-1"].variant == "backup"


async def test_the_request_keeps_its_own_deadline_inside_a_longer_execution_timeout(stack) -> None:
    publish_route(stack.engine, "hangs-long", [simulated("primary", stall_ms=20_000)])
    request = request_input(stack, "hangs-long", deadline_seconds=3)
    began = time.monotonic()
    result = await run_workflow(stack, request, timedelta(seconds=60))
    assert time.monotonic() - began < 15
    assert result.error is not None and result.error.code == "ProviderTimeout"
    [row] = outcomes_for_request(stack.engine, request.request_id)
    assert (row.status, row.error_class) == ("error", "ProviderTimeout")


async def test_a_request_first_run_after_its_deadline_settles_without_calling(stack) -> None:
    # As when its gateway died mid-task and the next ran it only after the deadline: the start
    # delay holds the first workflow task back past the request's five seconds. No time is left
    # for a call, and the execution timeout (the backstop) has not fired, so it settles.
    publish_route(stack.engine, "late", [simulated("primary")])
    request = request_input(stack, "late", deadline_seconds=5)
    result = await stack.client.execute_workflow(
        RequestWorkflow.run,
        request,
        id=request.request_id,
        task_queue=stack.settings.request_task_queue,
        execution_timeout=timedelta(seconds=60),
        start_delay=timedelta(seconds=6),
    )
    assert result.error is not None and result.error.http_status == 504
    [row] = outcomes_for_request(stack.engine, request.request_id)
    assert (row.status, row.error_class, row.tokens_out) == ("error", "request_timeout", 0)


async def test_a_stream_nobody_picks_up_is_abandoned_not_waited_out(stack) -> None:
    # A streamed call scheduled on the private queue of a gateway that has stopped.
    publish_route(stack.engine, "streams", [simulated("baseline")])
    request = request_input(
        stack,
        "streams",
        stream_task_queue=f"interlock-stream-gone-{uuid.uuid4().hex[:8]}",
        stream_start_timeout_seconds=1,
    )
    result = await run_workflow(stack, request, timedelta(seconds=30))
    assert result.error is not None and result.error.code == "ClientGone"
    [row] = outcomes_for_request(stack.engine, request.request_id)
    assert (row.status, row.error_class) == ("cancelled", "ClientGone")


# --- through a gateway whose streams have a short heartbeat timeout ---

HEARTBEAT_TIMEOUT = 1.0


@pytest.fixture(scope="module")
async def quick_gateway(stack) -> AsyncIterator[str]:
    settings = stack.settings.model_copy(
        update={
            # Its own request queue, so its own worker runs these requests' workflows.
            "request_task_queue": "interlock-requests-lifecycle",
            "stream_heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT,
        }
    )
    publish_route(stack.engine, "thinks", [simulated("baseline", stall_ms=3000)])
    long_prompt = " ".join(f"word{i}" for i in range(80))
    publish_route(stack.engine, "dribbles", [simulated("baseline", chunk_interval_ms=150)])
    async with serving(create_app(settings, client=stack.client)) as base_url:
        yield base_url, long_prompt


def _body(route: str, content: str) -> dict:
    return {"model": route, "messages": [{"role": "user", "content": content}], "stream": True}


async def test_a_slow_first_token_is_not_retried(stack, quick_gateway) -> None:
    base_url, _ = quick_gateway
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json=_body("thinks", "take your time"),
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response,
    ):
        assert response.status_code == 200
        body = (await response.aread()).decode()
        request_id = response.headers["x-request-id"]
    assert "take" in body and "data: [DONE]" in body
    # The first token came three heartbeat timeouts late, yet the call ran exactly once.
    history = await stack.client.get_workflow_handle(request_id).fetch_history()
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [1]


async def test_a_client_that_leaves_stops_the_provider_call(stack, quick_gateway) -> None:
    base_url, long_prompt = quick_gateway
    events = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json=_body("dribbles", long_prompt),
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if len(events) == 3:
                break  # leave mid-answer: the connection closes here
    # The whole answer would take 80 x 150 ms = 12 s; the call stops long before.
    rows = []
    for _ in range(50):
        rows = outcomes_for_request(stack.engine, request_id)
        if rows:
            break
        await asyncio.sleep(0.1)
    [row] = rows
    assert (row.status, row.error_class) == ("cancelled", "ClientGone")
    assert row.tokens_out == 0


async def test_the_gateway_gives_each_request_its_deadline_and_a_later_backstop(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        answer = await http.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {stack.api_key}"},
            json={"model": "chat", "messages": [{"role": "user", "content": "hello"}]},
        )
    assert answer.status_code == 200, answer.text
    history = await stack.client.get_workflow_handle(answer.json()["id"]).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [request] = await stack.client.data_converter.decode(started.input.payloads, [RequestInput])
    settings = stack.settings
    assert request.deadline_seconds == settings.request_timeout_seconds
    assert started.workflow_execution_timeout.ToTimedelta() == timedelta(
        seconds=backstop_timeout_seconds(settings)
    )
    assert backstop_timeout_seconds(settings) == (
        settings.request_timeout_seconds + 3 * settings.request_task_timeout_seconds
    )
