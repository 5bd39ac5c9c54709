"""Requests whose workflow ended without settling are settled by the reconciliation pass.

A request is sent through the gateway to a route whose provider hangs, and its workflow is
terminated mid-call, as an operator might, so it ends without settling. The pass settles it
once (an error on the arm it tried first, its budget hold released), and a second pass finds
nothing left to do.
"""

from __future__ import annotations

import asyncio

import httpx
from temporalio.testing import ActivityEnvironment

from activities.request_reconciliation import RequestReconciliationActivities
from contracts.routing import RouteTarget
from store.outcomes import outcomes_for_request
from store.routes import publish_route

ROUTE = "abandoned-by-operator"
LOOKBACK_SECONDS = 600.0


async def running_request_id(stack, timeout: float = 30.0) -> str:
    query = (
        f"WorkflowType = 'RequestWorkflow' AND ExecutionStatus = 'Running' "
        f"AND InterlockRoute = '{ROUTE}'"
    )
    async with asyncio.timeout(timeout):
        while True:
            async for execution in stack.client.list_workflows(query):
                return execution.id
            await asyncio.sleep(0.2)


async def abandon_a_request(stack) -> str:
    """Send a request to a provider that hangs and terminate its workflow mid-call: its id."""
    publish_route(
        stack.engine,
        ROUTE,
        [
            RouteTarget(
                variant="hangs",
                provider="simulated",
                model="sim-fast",
                options={"stall_ms": 20_000, "error_rate": 0.0},
            )
        ],
    )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        sent = asyncio.create_task(
            http.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {stack.api_key}"},
                json={"model": ROUTE, "messages": [{"role": "user", "content": "hello"}]},
            )
        )
        request_id = await running_request_id(stack)
        await stack.client.get_workflow_handle(request_id).terminate("reconciliation test")
        answer = await sent
    # The client is told the request failed, in an OpenAI-style error, not left waiting.
    assert answer.status_code >= 500 and answer.json()["error"]["message"]
    assert outcomes_for_request(stack.engine, request_id) == []
    return request_id


async def test_a_terminated_request_is_settled_once_by_the_pass(stack) -> None:
    request_id = await abandon_a_request(stack)
    reconcile = RequestReconciliationActivities(stack.client, stack.engine)
    environment = ActivityEnvironment()
    # Visibility may take a moment to show the close.
    async with asyncio.timeout(30):
        while True:
            first = await environment.run(reconcile.settle_abandoned, LOOKBACK_SECONDS)
            if request_id in first.settled:
                break
            await asyncio.sleep(0.5)
    [row] = outcomes_for_request(stack.engine, request_id)
    assert (row.arm, row.variant, row.status) == ("primary", "hangs", "error")
    assert row.error_class == "request_abandoned_terminated"
    assert row.tenant_id == "demo" and row.route == ROUTE

    again = await environment.run(reconcile.settle_abandoned, LOOKBACK_SECONDS)
    assert request_id not in again.settled and again.examined >= 1
    assert len(outcomes_for_request(stack.engine, request_id)) == 1
