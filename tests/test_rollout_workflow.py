"""Whole rollouts against the real stack: traffic through the gateway, outcomes in the store,
looks judged, the route's weights moved, controls applied."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from contracts.rollout import RolloutSpec, RolloutState, rollout_id
from contracts.routing import RouteTarget
from operations.rollouts import (
    RolloutCommandError,
    control_rollout,
    list_rollouts,
    rollout_status,
    start_rollout,
)
from store.rollout_records import decisions_of
from store.routes import live_targets, publish_route

# Each first attempt fails this often and a request gets three, so about 12.5% of the baseline's
# requests end in an error: a rate the error test has events to work with.
BASELINE_ERRORS = 0.5


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


async def test_a_healthy_candidate_becomes_the_baseline(stack) -> None:
    publish_baseline(stack, "ro-healthy")
    spec = spec_for("ro-healthy", candidate_errors=BASELINE_ERRORS)
    async with traffic(stack, "ro-healthy"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        assert started == rollout_id("ro-healthy")
        state = await finished(stack, started)
    assert state.status == "promoted" and state.stage == "active"
    _version, targets = live_targets(stack.engine, "ro-healthy")
    assert [(t.variant, t.model, t.weight) for t in targets] == [("next", "sim-smart", 1.0)]
    decisions = decisions_of(stack.engine, started)
    assert [d.action for d in decisions] == ["advance"]
    assert decisions[0].outcome == "PASS"
    assert decisions[0].evidence["baseline_requests"] >= 100
    shown = await rollout_status(stack.client, started)
    assert shown["status"] == "promoted" and shown["decisions"]


async def test_a_worse_candidate_is_rolled_back(stack) -> None:
    publish_baseline(stack, "ro-worse")
    spec = spec_for("ro-worse", candidate_errors=0.85)
    async with traffic(stack, "ro-worse"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        state = await finished(stack, started)
    assert state.status == "rolled_back" and state.stage == "baseline"
    assert state.last_decision is not None and state.last_decision.outcome == "FAIL"
    error_rate = next(m for m in state.last_decision.metrics if m.name == "error_rate")
    assert error_rate.candidate > error_rate.baseline
    _version, targets = live_targets(stack.engine, "ro-worse")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    assert [d.action for d in decisions_of(stack.engine, started)] == ["rollback"]


async def test_controls_a_second_start_and_an_abort(stack) -> None:
    publish_baseline(stack, "ro-steered")
    # No traffic at all: no data never promotes, so the rollout waits for its operator.
    spec = spec_for("ro-steered", candidate_errors=0.0)
    queue = stack.settings.control_task_queue
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    with pytest.raises(RolloutCommandError, match="already running"):
        await start_rollout(stack.client, stack.engine, spec, queue)
    with pytest.raises(RolloutCommandError, match=r"resume: .*running"):
        await control_rollout(stack.client, started, "resume")
    paused = await control_rollout(stack.client, started, "pause")
    assert paused.status == "paused"
    listed = {row["id"]: row for row in await list_rollouts(stack.client)}
    assert listed[started]["route"] == "ro-steered"
    resumed = await control_rollout(stack.client, started, "resume")
    assert resumed.status == "running"
    running = await rollout_status(stack.client, started)
    assert running["weights"] == {"base": 0.5, "next": 0.5}
    aborted = await control_rollout(stack.client, started, "abort")
    assert "aborted" in aborted.message
    state = await finished(stack, started)
    assert state.status == "aborted"
    _version, targets = live_targets(stack.engine, "ro-steered")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    with pytest.raises(RolloutCommandError, match="has ended"):
        await control_rollout(stack.client, started, "abort")
    assert [d.action for d in decisions_of(stack.engine, started)] == ["pause", "resume", "abort"]


async def test_a_rollout_the_route_cannot_take_is_refused_at_start(stack) -> None:
    with pytest.raises(RolloutCommandError, match="no route named"):
        await start_rollout(
            stack.client,
            stack.engine,
            spec_for("ro-missing", 0.0),
            stack.settings.control_task_queue,
        )
    publish_baseline(stack, "ro-shadow")
    with pytest.raises(RolloutCommandError, match="not supported yet"):
        await start_rollout(
            stack.client,
            stack.engine,
            spec_for("ro-shadow", 0.0, strategy="shadow", steps=None),
            stack.settings.control_task_queue,
        )
