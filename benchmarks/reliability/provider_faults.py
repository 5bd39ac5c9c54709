"""Provider faults: the primary provider errs and times out on 30% of its calls, then goes down
altogether, then comes back.

Fallbacks must keep the client-visible error rate under 1% throughout; the primary's breaker must
open during the outage and close again after it; and nothing may be charged twice: the budget's
spend is exactly the sum of the outcome rows' costs, and nothing stays reserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from sqlalchemy import text

from benchmarks.reliability.ledger import settled_ledger
from benchmarks.reliability.report import ScenarioReport
from benchmarks.reliability.stack import (
    API_KEY,
    REQUEST_TIMEOUT_SECONDS,
    TENANT,
    ScenarioStack,
    scenario_stack,
)
from benchmarks.reliability.traffic import TrafficResult, send_requests
from contracts.routing import RouteTarget
from store.budgets import budget_states, set_budget, to_nano
from store.routes import publish_route

ROUTE = "flaky"
PRIMARY = ("simulated", "sim-fast")
CONCURRENCY = 20
FAULTS = {"error_rate": 0.15, "timeout_rate": 0.15, "timeout_ms": 300}
OUTAGE = {"error_rate": 1.0}
HEALTHY = {"error_rate": 0.0}
BREAKER_ENV = {
    # Short windows, so that the breaker's whole cycle fits in a scenario of a minute or two.
    "INTERLOCK_BREAKER_WINDOW_SECONDS": "10",
    "INTERLOCK_BREAKER_OPEN_SECONDS": "5",
    "INTERLOCK_BREAKER_MIN_CALLS": "10",
}
RECOVERY_SECONDS = 60.0
OUTAGE_SECONDS = 30.0


def publish(stack: ScenarioStack, primary_options: dict) -> None:
    publish_route(
        stack.engine,
        ROUTE,
        [
            RouteTarget(
                variant="primary", provider=PRIMARY[0], model=PRIMARY[1], options=primary_options
            ),
            RouteTarget(variant="fallback", provider="simulated", model="sim-smart", weight=0),
        ],
    )


class BreakerWatch:
    """The primary's breaker states, in the order they were seen (polled every 100 ms)."""

    def __init__(self, stack: ScenarioStack) -> None:
        self._breakers = stack.breaker_states()
        self.seen: list[str] = []

    def state(self) -> str:
        breaker = self._breakers.read().get(PRIMARY)
        return breaker.state if breaker is not None else "closed"

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            state = await asyncio.to_thread(self.state)
            if not self.seen or self.seen[-1] != state:
                self.seen.append(state)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


async def run(workdir: Path, requests: int, database_url: str | None = None) -> ScenarioReport:
    report = ScenarioReport("provider faults: 30% errors and timeouts, then an outage")
    async with scenario_stack(workdir, database_url, BREAKER_ENV) as stack:
        set_budget(stack.engine, TENANT, 1_000.0, "day")
        watch = BreakerWatch(stack)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch.watch(stop))
        traffic = TrafficResult()

        async def phase(options: dict, count: int) -> TrafficResult:
            await asyncio.to_thread(publish, stack, options)
            return await send_requests(
                stack.base_url,
                API_KEY,
                ROUTE,
                count,
                CONCURRENCY,
                REQUEST_TIMEOUT_SECONDS + 10,
            )

        faults = await phase(FAULTS, requests)
        outage = await phase(OUTAGE, requests // 2)
        # The breaker's window still holds the fault phase's calls, 30% of them failed: in the
        # short mode the outage's own requests may not yet outweigh them. The outage goes on
        # until the breaker has opened (or OUTAGE_SECONDS have passed), as a real one would.
        began = time.monotonic()
        while "open" not in watch.seen and time.monotonic() - began < OUTAGE_SECONDS:
            await send_requests(
                stack.base_url, API_KEY, ROUTE, 20, 5, REQUEST_TIMEOUT_SECONDS + 10, result=outage
            )
        # Back to health: send until the breaker has probed and closed (or a minute has passed).
        await asyncio.to_thread(publish, stack, HEALTHY)
        recovery = TrafficResult()
        began = time.monotonic()
        while time.monotonic() - began < RECOVERY_SECONDS:
            await send_requests(
                stack.base_url, API_KEY, ROUTE, 20, 5, REQUEST_TIMEOUT_SECONDS + 10, result=recovery
            )
            if "open" in watch.seen and watch.state() == "closed":
                break
        stop.set()
        await watcher

        for part in (faults, outage, recovery):
            traffic.sent += part.sent
            traffic.answered += part.answered
            traffic.refused.update(part.refused)
            traffic.unclear += part.unclear
            traffic.hung += part.hung
            traffic.connection_lost += part.connection_lost
            traffic.answered_ids |= part.answered_ids
        ledger = await settled_ledger(
            stack.client, stack.engine, traffic.answered_ids, REQUEST_TIMEOUT_SECONDS + 30
        )
        charged = charges(stack)
        report.figures = {
            "database": "postgresql" if database_url else "sqlite",
            "faults": faults.figures(),
            "outage": outage.figures(),
            "recovery": recovery.figures(),
            "breaker_states_seen": watch.seen,
            **charged,
            **ledger.figures(),
        }
        for name, part in (("faults", faults), ("outage", outage)):
            report.check(
                f"client-visible error rate under 1% during the {name}",
                part.client_error_rate < 0.01,
                f"{part.client_error_rate:.2%}: {dict(part.refused)}",
            )
        report.check(
            "every request ended, with an answer or a clear error, before its deadline",
            traffic.hung == 0 and not traffic.unclear and traffic.ended == traffic.sent,
            traffic.unclear[:3],
        )
        report.check(
            "the primary's breaker opened during the outage and closed after it",
            "open" in watch.seen and watch.seen[-1] == "closed",
            " -> ".join(watch.seen),
        )
        report.check(
            "the budget was charged exactly the recorded costs",
            charged["budget_spent_nusd"] == charged["outcome_cost_nusd"],
            f"{charged['budget_spent_nusd']} vs {charged['outcome_cost_nusd']} nano-USD",
        )
        report.check("nothing is left reserved", charged["budget_reserved_nusd"] == 0, charged)
        report.check(
            "no request arm was recorded twice and none was lost",
            ledger.duplicate_rows == 0 and ledger.lost == 0 and ledger.answered_without_row == 0,
            ledger.figures(),
        )
        if not report.held:
            report.diagnostics = stack.run.diagnostics()
    return report


def charges(stack: ScenarioStack) -> dict[str, int]:
    [state] = budget_states(stack.engine, TENANT)
    with stack.engine.connect() as connection:
        costs = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT SUM(cost_usd) FROM outcomes WHERE tenant_id = :tenant "
                    "GROUP BY request_id"
                ),
                {"tenant": TENANT},
            )
        ]
    return {
        "budget_spent_nusd": state.spent_nusd,
        "budget_reserved_nusd": state.reserved_nusd,
        # Each request settles its own cost in nano-dollars, rounded up: sum them that way.
        "outcome_cost_nusd": sum(to_nano(cost) for cost in costs),
    }
