"""A plain request's answer is handed from the gateway's worker to the waiting request
in-process, and the server is asked only when no answer comes that way."""

from __future__ import annotations

import asyncio
import threading

import httpx
from sqlalchemy import text

from contracts.request import RequestResult
from contracts.routing import RouteTarget
from gateway.answer_handoff import AnswerHandOff
from store.routes import publish_route


def answer(request_id: str) -> RequestResult:
    return RequestResult(request_id=request_id, route="chat")


async def test_an_answer_from_another_thread_reaches_its_waiter_only() -> None:
    handoff = AnswerHandOff()
    waiting = handoff.expect("req-1")

    def worker_thread() -> None:
        handoff.deliver("req-2", answer("req-2"))
        handoff.deliver("req-1", answer("req-1"))

    other = threading.Thread(target=worker_thread)
    other.start()
    other.join()
    assert (await asyncio.wait_for(waiting, 5)).request_id == "req-1"
    # Delivered once: a second answer for the same id has nobody left to reach.
    handoff.deliver("req-1", answer("req-1"))


async def test_a_run_without_an_answer_resolves_its_waiter_with_none() -> None:
    handoff = AnswerHandOff()
    waiting = handoff.expect("req-1")
    handoff.deliver("req-1", None)
    assert await asyncio.wait_for(waiting, 5) is None
    forgotten = handoff.expect("req-2")
    handoff.forget("req-2")
    handoff.deliver("req-2", answer("req-2"))
    await asyncio.sleep(0.05)
    assert not forgotten.done()


async def answers_by_source(http: httpx.AsyncClient) -> dict[str, float]:
    exposition = (await http.get("/metrics")).text
    counts = {}
    for line in exposition.splitlines():
        if line.startswith("interlock_answers_total{"):
            source = line.split('source="')[1].split('"')[0]
            counts[source] = float(line.rsplit(" ", 1)[1])
    return counts


async def test_the_handed_over_answer_is_the_one_the_workflow_recorded(stack, sdk) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        before = await answers_by_source(http)
        completion = await sdk.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "Say hello"}]
        )
        after = await answers_by_source(http)
    assert after.get("handed_over", 0) == before.get("handed_over", 0) + 1
    assert after.get("server", 0) == before.get("server", 0)
    handle = stack.client.get_workflow_handle(completion.id, result_type=RequestResult)
    recorded = await handle.result()
    assert recorded.response is not None
    assert completion.choices[0].message.content == recorded.response.text
    assert completion.model == f"{recorded.target.provider}/{recorded.target.model}"
    assert completion.usage.completion_tokens == recorded.response.usage.output_tokens


async def test_a_failed_run_is_answered_from_the_server(stack) -> None:
    publish_route(
        stack.engine,
        "no-traffic",
        [RouteTarget(variant="only", provider="simulated", model="sim-fast")],
    )
    # Against every writer's rules, no variant has traffic: the workflow fails on it.
    with stack.engine.begin() as connection:
        connection.execute(
            text("UPDATE route_variants SET weight = 0 WHERE route_name = 'no-traffic'")
        )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        before = await answers_by_source(http)
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "no-traffic", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
        after = await answers_by_source(http)
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "workflow_failed"
    # Nothing was handed over; the gateway asked the server, which knew the run had failed.
    assert after.get("handed_over", 0) == before.get("handed_over", 0)
