"""A gateway that dies mid-request: the request is not lost, another gateway finishes it.

A request runs whole in the workflow task its gateway took eagerly. Here a real `interlock
gateway` process takes a request, starts the provider call, and is killed with SIGKILL; once the
task times out, the suite's own gateway worker (same task queue) takes the request over from
the top, calls the provider again and records exactly one outcome row.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from contracts.request import RequestResult
from contracts.routing import RouteTarget
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import free_port
from tests.interlock_process import start_interlock

TASK_TIMEOUT_SECONDS = 2
# Long enough for the gateway to be killed inside it, short enough to stay above the task
# timeout: the recovered call then needs the task kept alive while it waits.
STALL_MS = 3000


def start_gateway(stack, port: int) -> subprocess.Popen:
    return start_interlock(
        stack,
        "gateway",
        INTERLOCK_GATEWAY_PORT=str(port),
        INTERLOCK_GATEWAY_HOST="127.0.0.1",
        INTERLOCK_REQUEST_TASK_TIMEOUT_SECONDS=str(TASK_TIMEOUT_SECONDS),
        INTERLOCK_REQUEST_TIMEOUT_SECONDS="60",
        INTERLOCK_SIMULATOR_LATENCY_SCALE="0",
    )


async def wait_healthy(base_url: str, process: subprocess.Popen) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        for _ in range(300):
            assert process.poll() is None, "the gateway exited while starting"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become healthy")


async def running_request_of(stack, tenant: str) -> str:
    """The id of the tenant's request once its workflow is running."""
    query = f"WorkflowType = 'RequestWorkflow' AND InterlockTenant = '{tenant}'"
    for _ in range(100):
        async for execution in stack.client.list_workflows(query):
            return execution.id
        await asyncio.sleep(0.05)
    raise AssertionError("the request's workflow never appeared")


async def test_a_request_whose_gateway_dies_is_finished_by_another(stack) -> None:
    tenant = f"crash-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    key = add_api_key(stack.engine, tenant)
    publish_route(
        stack.engine,
        "slow-answer",
        [
            RouteTarget(
                variant="baseline",
                provider="simulated",
                model="sim-fast",
                options={"stall_ms": STALL_MS, "error_rate": 0.0},
            )
        ],
    )
    port = free_port()
    process = start_gateway(stack, port)
    try:
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, process)
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            pending = asyncio.create_task(
                http.post(
                    "/v1/chat/completions",
                    json={"model": "slow-answer", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": f"Bearer {key}"},
                )
            )
            request_id = await running_request_of(stack, tenant)
            await asyncio.sleep(0.5)  # the provider call is under way, stalled
            killed_at = time.monotonic()
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            # The client loses its connection: its gateway is gone.
            [lost] = await asyncio.gather(pending, return_exceptions=True)
            assert isinstance(lost, httpx.TransportError)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    handle = stack.client.get_workflow_handle(request_id, result_type=RequestResult)
    result = await asyncio.wait_for(handle.result(), timeout=30)
    recovered_in = time.monotonic() - killed_at
    assert result.error is None and result.response is not None
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    [row] = outcomes_for_request(stack.engine, request_id)
    assert (row.arm, row.status, row.tenant_id) == ("primary", "ok", tenant)
    history = await handle.fetch_history()
    kinds = [event.event_type for event in history.events]
    # The dead gateway's task timed out; the next one ran the whole request again.
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT in kinds
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    # The recovered call outlived the task timeout: the task was kept alive meanwhile.
    completed_tasks = kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert completed_tasks >= 2
    assert recovered_in < TASK_TIMEOUT_SECONDS + STALL_MS / 1000 + 10
