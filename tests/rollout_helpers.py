"""What the rollout tests and the rollout history recorder share: a route, a spec, traffic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx

from contracts.rollout import RolloutSpec, RolloutState
from contracts.routing import RouteTarget
from operations.rollouts import rollout_status
from store.routes import publish_route

# Each first attempt fails this often and a request gets three, so about 12.5% of the baseline's
# requests end in an error: a rate the error test has events to work with.
BASELINE_ERRORS = 0.5
# A candidate a test expects to pass is a little better than the baseline, not equal to it: an
# equal candidate is failed by chance now and then, as often as alpha allows (docs/rollouts.md),
# and a test must not fail with it.
HEALTHY_CANDIDATE_ERRORS = 0.4


def publish_baseline(stack, route: str) -> None:
    publish_route(
        stack.engine,
        route,
        [
            RouteTarget(
                variant="base",
                provider="simulated",
                model="sim-fast",
                options={"error_rate": BASELINE_ERRORS},
            )
        ],
    )


def spec_for(route: str, candidate_errors: float, **overrides) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "route": route,
            "candidate": {
                "variant": "next",
                "provider": "simulated",
                "model": "sim-smart",
                "options": {"error_rate": candidate_errors},
            },
            "steps": [{"weight": 50, "min_requests": 100, "time_limit": "60s"}],
            "analysis": {"interval": "1s"},
            "metrics": [{"name": "error_rate", "margin": 0.2}],
            # No shadow stage unless a test asks for one: straight to the traffic step.
            "shadow": None,
            **overrides,
        }
    )


@contextlib.asynccontextmanager
async def traffic(stack, route: str, most: int = 4000) -> AsyncIterator[list[int]]:
    """Requests to `route` at concurrency 8 until the block ends (at most `most`, 120 s)."""
    sent = [0]
    stop = asyncio.Event()

    async def loop(http: httpx.AsyncClient) -> None:
        began = time.monotonic()
        while not stop.is_set() and sent[0] < most and time.monotonic() - began < 120:
            sent[0] += 1
            await http.post(
                "/v1/chat/completions",
                json={"model": route, "messages": [{"role": "user", "content": "hello"}]},
            )

    async with httpx.AsyncClient(
        base_url=stack.base_url,
        timeout=30,
        headers={"Authorization": f"Bearer {stack.api_key}"},
    ) as http:
        tasks = [asyncio.create_task(loop(http)) for _ in range(8)]
        try:
            yield sent
        finally:
            stop.set()
            await asyncio.gather(*tasks)


async def finished(stack, workflow_id: str, seconds: float = 100) -> RolloutState:
    handle = stack.client.get_workflow_handle(workflow_id, result_type=RolloutState)
    return await asyncio.wait_for(handle.result(), seconds)


async def shown_when(stack, workflow_id: str, **wanted: str) -> dict:
    """The rollout's status once each field in `wanted` has its value (at most 20 s); the last
    status read otherwise, for the caller's assertion to show."""
    for _ in range(200):
        shown = await rollout_status(stack.client, workflow_id)
        if all(shown[field] == value for field, value in wanted.items()):
            break
        await asyncio.sleep(0.1)
    return shown
