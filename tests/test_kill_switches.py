"""Kill switches against the running stack: they take effect within a second without a restart,
answer a clear 503, and abort the running rollouts they cover, saying which switch and who."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from operations.kill_switches import flip_kill_switch
from operations.rollouts import start_rollout
from store.rollout_records import decisions_of
from store.routes import live_targets
from tests.rollout_helpers import finished, publish_baseline, spec_for


async def status_of(stack, route: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        return await http.post(
            "/v1/chat/completions",
            json={"model": route, "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )


async def answered_with(stack, route: str, status: int, seconds: float = 5) -> httpx.Response:
    """The first answer with `status` within `seconds` (gateways re-read flags every second)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await status_of(stack, route)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("scope", ["route", "provider", "global"])
async def test_a_kill_switch_stops_requests_without_a_restart(stack, scope: str) -> None:
    route = f"ks-{scope}"
    publish_baseline(stack, route)
    name = {"route": route, "provider": "simulated", "global": None}[scope]
    assert (await status_of(stack, route)).status_code in (200, 502)
    began = time.monotonic()
    try:
        await flip_kill_switch(None, stack.engine, scope, name, True, "tester", "drill")
        refused = await answered_with(stack, route, 503)
        took = time.monotonic() - began
    finally:
        await flip_kill_switch(None, stack.engine, scope, name, False, "tester", "drill over")
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "kill_switch" and "kill switch" in error["message"]
    assert took < 3
    assert (await answered_with(stack, route, 200)).status_code in (200, 502)


async def test_a_kill_switch_aborts_the_rollouts_it_covers(stack) -> None:
    publish_baseline(stack, "ks-rollout")
    queue = stack.settings.control_task_queue
    spec = spec_for("ks-rollout", candidate_errors=0.0, time_limit="10m")
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    try:
        aborted = await flip_kill_switch(
            stack.client, stack.engine, "route", "ks-rollout", True, "tester", "bad prompt"
        )
        state = await finished(stack, started, seconds=30)
    finally:
        await flip_kill_switch(None, stack.engine, "route", "ks-rollout", False, "tester")
    assert aborted == [started]
    assert state.status == "aborted"
    [decision] = decisions_of(stack.engine, state.record_id)
    assert decision.action == "abort"
    assert decision.reason == (
        "aborted by an operator: kill switch kill.route.ks-rollout switched on by tester "
        "(bad prompt)"
    )
    _version, targets = live_targets(stack.engine, "ks-rollout")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
