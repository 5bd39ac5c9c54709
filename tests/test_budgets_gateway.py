"""Budgets through the gateway: two `interlock gateway` processes on one store (SQLite, then
PostgreSQL) answer a burst of concurrent requests from a tenant with a small budget. Spend never
passes the limit, what was refused was refused with a clear 429, and every answered request is
charged exactly what its outcome rows say it cost."""

from __future__ import annotations

import asyncio
import math
import subprocess
import uuid

import openai
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contracts.routing import RouteTarget
from store.budgets import NANO, budget_rules, budget_states, set_budget
from store.routes import publish_route
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import free_port
from tests.interlock_process import start_interlock
from tests.test_gateway_crash import wait_healthy

LIMIT_USD = 0.5
REQUESTS = 60
CONCURRENCY = 12
MAX_TOKENS = 20
# A dollar per thousand output tokens: a 20-token answer costs about $0.02, so the budget takes
# about two dozen and the burst offers more than twice that.
PRICES = {"input_price_per_mtok": 100.0, "output_price_per_mtok": 1000.0}


def start_gateway(stack, store_url: str, queue: str, port: int) -> subprocess.Popen:
    return start_interlock(
        stack,
        "gateway",
        INTERLOCK_DATABASE_URL=store_url,
        # A queue of their own: only these gateways' workers run (and settle) these requests.
        INTERLOCK_REQUEST_TASK_QUEUE=queue,
        INTERLOCK_GATEWAY_PORT=str(port),
        INTERLOCK_GATEWAY_HOST="127.0.0.1",
        INTERLOCK_SIMULATOR_LATENCY_SCALE="0",
    )


async def burst(clients: list[openai.AsyncOpenAI]) -> list[BaseException | object]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int):
        async with limit:
            return await clients[n % len(clients)].chat.completions.create(
                model="budgeted",
                messages=[{"role": "user", "content": "hello"}],
                max_tokens=MAX_TOKENS,
            )

    return await asyncio.gather(*(one(n) for n in range(REQUESTS)), return_exceptions=True)


def outcome_costs(engine: Engine, tenant: str) -> dict[str, float]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT request_id, SUM(cost_usd) FROM outcomes WHERE tenant_id = :tenant "
                "GROUP BY request_id"
            ),
            {"tenant": tenant},
        ).all()
    return {request_id: float(cost) for request_id, cost in rows}


async def test_two_gateways_never_let_a_burst_overshoot_the_budget(
    stack, engine: Engine, store_url: str
) -> None:
    tenant = f"budget-{uuid.uuid4().hex[:8]}"
    ensure_tenant(engine, tenant)
    key = add_api_key(engine, tenant)
    publish_route(
        engine,
        "budgeted",
        [RouteTarget(variant="base", provider="simulated", model="sim-fast", options=PRICES)],
    )
    set_budget(engine, tenant, LIMIT_USD, "day")
    queue = f"budgets-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    gateways = [start_gateway(stack, store_url, queue, port) for port in ports]
    try:
        for port, process in zip(ports, gateways, strict=True):
            await wait_healthy(f"http://127.0.0.1:{port}", process)
        clients = [
            openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=60
            )
            for port in ports
        ]
        answers = await burst(clients)
        # Without max_tokens a budgeted request is capped at 4,096 output tokens, whose worst
        # case ($4) no budget of $0.50 can hold: refused before any call.
        with pytest.raises(openai.RateLimitError) as uncapped:
            await clients[0].chat.completions.create(
                model="budgeted", messages=[{"role": "user", "content": "hello"}]
            )
        for client in clients:
            await client.close()
    finally:
        for process in gateways:
            process.terminate()
        for process in gateways:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    answered = [a for a in answers if not isinstance(a, BaseException)]
    assert len(refused) + len(answered) == REQUESTS, [
        a for a in answers if isinstance(a, BaseException) and a not in refused
    ]
    assert answered and refused
    error = refused[0].body
    assert error["code"] == "insufficient_quota" and error["type"] == "insufficient_quota"
    assert f"tenant '{tenant}''s daily budget of $0.5" in error["message"]
    assert "could cost up to $4.1" in uncapped.value.body["message"]

    [state] = budget_states(engine, tenant)
    assert state.reserved_nusd == 0
    assert state.spent_nusd <= state.rule.limit_nusd == LIMIT_USD * NANO
    # Charged what the outcome rows say, request by request (each rounded up to a nano-dollar).
    costs = outcome_costs(engine, tenant)
    assert {a.id for a in answered} <= set(costs)
    expected = sum(math.ceil(round(cost * NANO, 3)) for cost in costs.values())
    assert state.spent_nusd == expected
    # The budget was used, not refused wholesale: most of it was spent by the burst.
    assert state.spent_nusd >= budget_rules(engine, tenant)[0].limit_nusd / 2
