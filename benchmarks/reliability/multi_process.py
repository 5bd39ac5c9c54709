"""Two workers and two gateways on PostgreSQL against one Temporal server.

`interlock dev` runs one gateway and one worker; a second of each joins them here, on the same
Temporal server and PostgreSQL store, as a production deployment scales out. What each holds for
itself must then hold for both together:
- budgets: concurrent requests through both gateways never spend past a tenant's limit, and the
  spend is exactly the recorded costs;
- caches: an answer kept through one gateway is served by the other;
- breakers: once the failing provider's breaker opens, neither gateway calls it;
- rollouts: a rollout judged on traffic through both gateways promotes its healthy candidate, and
  both then serve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from benchmarks.reliability.report import ScenarioReport
from benchmarks.reliability.server_restart import CONTROL_QUEUE, rollout_spec, status_when
from benchmarks.reliability.stack import (
    API_KEY,
    REQUEST_TIMEOUT_SECONDS,
    TENANT,
    ScenarioStack,
    scenario_stack,
)
from benchmarks.reliability.traffic import TrafficResult, send_requests
from contracts.routing import CachePolicy, RouteTarget
from devstack.launch import free_port
from operations.rollouts import start_rollout
from store.budgets import budget_states, set_budget, to_nano
from store.routes import RouteConfig, publish_route, publish_routes

POSTGRES_URL = os.environ.get(
    "INTERLOCK_RELIABILITY_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BREAKER_MODEL = "sim-flaky"
BREAKER_ENV = {
    # Opened breakers stay open for the scenario: any call after the opening would be a leak.
    "INTERLOCK_BREAKER_OPEN_SECONDS": "600",
    "INTERLOCK_BREAKER_WINDOW_SECONDS": "30",
    "INTERLOCK_BREAKER_MIN_CALLS": "10",
}
BUDGET_USD = 0.004
DEADLINE = REQUEST_TIMEOUT_SECONDS + 10
# Each gateway re-reads the breakers once a second: this long after the opening, both know.
BREAKER_SPREAD_SECONDS = 2.5


@contextlib.contextmanager
def throwaway_schema(admin_url: str) -> Iterator[str]:
    admin = create_engine(admin_url)
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def second_gateway_and_worker(stack: ScenarioStack) -> Iterator[str]:
    """Another `interlock gateway` and `interlock worker` beside the stack's; the gateway's URL."""
    port = free_port()
    env = stack.process_env(
        INTERLOCK_GATEWAY_HOST="127.0.0.1",
        INTERLOCK_GATEWAY_PORT=str(port),
        INTERLOCK_WORKER_METRICS_PORT="0",
    )
    logs = stack.run.home / "logs"
    processes = []
    for role in ("gateway", "worker"):
        with open(logs / f"second-{role}.log", "ab") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", role],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


async def wait_until_healthy(base_url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(base_url.removesuffix("/v1") + "/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"the second gateway at {base_url} was not ready in {seconds:.0f} s")


async def through_both(
    gateways: list[str], route: str, count: int, concurrency: int
) -> list[TrafficResult]:
    """`count` requests to `route` through each gateway at once."""
    return list(
        await asyncio.gather(
            *(send_requests(url, API_KEY, route, count, concurrency, DEADLINE) for url in gateways)
        )
    )


def single_route(stack: ScenarioStack, name: str, targets: list[RouteTarget], **fields) -> None:
    publish_routes(stack.engine, [RouteConfig(name=name, targets=targets, **fields)])


def simulated(variant: str, model: str, weight: float = 1.0, **options) -> RouteTarget:
    return RouteTarget(
        variant=variant, provider="simulated", model=model, weight=weight, options=options
    )


def rows(stack: ScenarioStack, sql: str, **params) -> list[tuple]:
    with stack.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


async def budgets_hold(stack: ScenarioStack, gateways: list[str], report: ScenarioReport) -> None:
    single_route(stack, "budgeted", [simulated("base", "sim-fast", error_rate=0.0)])
    set_budget(stack.engine, TENANT, BUDGET_USD, "day", route="budgeted")
    results = await through_both(gateways, "budgeted", 200, 10)
    [state] = [s for s in budget_states(stack.engine, TENANT) if s.rule.route == "budgeted"]
    costs = rows(
        stack,
        "SELECT SUM(cost_usd) FROM outcomes WHERE route = 'budgeted' GROUP BY request_id",
    )
    recorded = sum(to_nano(cost) for (cost,) in costs)
    refused = sum(r.refused.get("429 insufficient_quota", 0) for r in results)
    report.figures["budget"] = {
        "limit_nusd": state.rule.limit_nusd,
        "spent_nusd": state.spent_nusd,
        "reserved_nusd": state.reserved_nusd,
        "answered": [r.answered for r in results],
        "refused_over_budget": refused,
    }
    report.check(
        "budget: spend never passed the limit across both gateways",
        state.spent_nusd <= state.rule.limit_nusd and refused > 0,
        f"{state.spent_nusd} of {state.rule.limit_nusd} nano-USD, {refused} refused",
    )
    report.check(
        "budget: spend is exactly the recorded costs, nothing left reserved",
        state.spent_nusd == recorded and state.reserved_nusd == 0,
        f"{state.spent_nusd} vs {recorded}, {state.reserved_nusd} reserved",
    )


async def caches_shared(stack: ScenarioStack, gateways: list[str], report: ScenarioReport) -> None:
    single_route(
        stack,
        "cached",
        [simulated("base", "sim-fast", error_rate=0.0)],
        cache=CachePolicy(ttl_seconds=600),
    )
    body = {"model": "cached", "messages": [{"role": "user", "content": "the same question"}]}
    ids = []
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {API_KEY}"}, timeout=DEADLINE
    ) as http:
        for base in gateways:  # kept through the first, asked through the second
            answer = await http.post(f"{base}/chat/completions", json=body)
            ids.append(answer.json().get("id"))
    hits = rows(
        stack,
        "SELECT request_id, cache_hit FROM outcomes WHERE request_id IN (:a, :b)",
        a=ids[0],
        b=ids[1],
    )
    by_id = dict(hits)
    report.figures["cache"] = {"first_hit": by_id.get(ids[0]), "second_hit": by_id.get(ids[1])}
    report.check(
        "cache: an answer kept through one gateway is served by the other",
        by_id.get(ids[0]) is False and by_id.get(ids[1]) is True,
        by_id,
    )


async def breakers_shared(
    stack: ScenarioStack, gateways: list[str], report: ScenarioReport
) -> None:
    single_route(
        stack,
        "breaking",
        [
            simulated("failing", BREAKER_MODEL, error_rate=1.0),
            simulated("backup", "sim-smart", weight=0, error_rate=0.0),
        ],
    )
    results = await through_both(gateways, "breaking", 30, 4)
    breaker = stack.breaker_states().read().get(("simulated", BREAKER_MODEL))
    opened = breaker is not None and breaker.state == "open"
    late_calls = None
    if opened:
        await asyncio.sleep(BREAKER_SPREAD_SECONDS)
        since = time.time()
        more = await through_both(gateways, "breaking", 30, 4)
        results += more
        late_calls = rows(
            stack,
            "SELECT COUNT(*) FROM outcomes WHERE route = 'breaking' AND model = :model "
            "AND started_at >= :since",
            model=BREAKER_MODEL,
            since=_utc(since),
        )[0][0]
    failed = sum(r.sent - r.answered for r in results)
    report.figures["breaker"] = {
        "state": breaker.state if breaker else None,
        "calls_to_it_after_opening": late_calls,
        "client_errors": failed,
    }
    report.check(
        "breaker: opened once, and neither gateway called the provider after",
        opened and late_calls == 0,
        report.figures["breaker"],
    )
    report.check("breaker: every request was answered by the backup", failed == 0, failed)


async def rollout_across(stack: ScenarioStack, gateways: list[str], report: ScenarioReport) -> None:
    publish_route(stack.engine, "rolled", [simulated("base", "sim-fast", error_rate=0.5)])
    spec = rollout_spec("rolled", candidate_errors=0.4)  # a little better than the baseline
    traffic = asyncio.create_task(through_both(gateways, "rolled", 5_000, 6))
    try:
        rollout_id = await start_rollout(stack.client, stack.engine, spec, CONTROL_QUEUE)
        final = await status_when(
            stack, rollout_id, lambda s: s["status"] in ("promoted", "rolled_back"), 150
        )
    finally:
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await traffic
    await asyncio.sleep(1.5)  # each gateway re-reads its routes within a second
    after = time.time()
    await through_both(gateways, "rolled", 20, 4)
    variants = rows(
        stack,
        "SELECT DISTINCT variant FROM outcomes WHERE route = 'rolled' AND arm = 'primary' "
        "AND started_at >= :since",
        since=_utc(after),
    )
    report.figures["rollout"] = {
        "status": final["status"],
        "variants_served_after": sorted(v for (v,) in variants),
    }
    report.check(
        "rollout: promoted on traffic through both gateways, and both serve the candidate",
        final["status"] == "promoted" and variants == [("next",)],
        report.figures["rollout"],
    )


def _utc(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


async def run(workdir: Path, database_url: str | None = None) -> ScenarioReport:
    report = ScenarioReport("two workers and two gateways on PostgreSQL")
    admin_url = database_url or POSTGRES_URL
    with throwaway_schema(admin_url) as url:
        async with scenario_stack(workdir, url, BREAKER_ENV) as stack:
            with second_gateway_and_worker(stack) as second:
                await wait_until_healthy(second)
                gateways = [stack.base_url, second]
                for part in (budgets_hold, caches_shared, breakers_shared, rollout_across):
                    await part(stack, gateways, report)
            if not report.held:
                report.diagnostics = stack.run.diagnostics()
    return report
