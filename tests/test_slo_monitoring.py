"""SLOs and their burn-rate alerts: the rules, the counts from real outcome rows on both
databases, and the monitoring workflow on the running stack (search attribute, webhook, a
rollout paused by a fast burn)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from activities.slo_monitoring import check_slos
from contracts.outcome import OutcomeRecord
from contracts.routing import RouteTarget
from contracts.slo import Slo, SloCheck
from experiments.burn_rate import RULES, alert_states, burn_rate
from operations.rollouts import start_rollout
from store.outcomes import record_outcomes
from store.route_files import RouteFileError, parse_routes
from store.routes import RouteConfig, live_config, publish_routes
from store.slo_records import alert_rows
from tests.rollout_helpers import shown_when, spec_for
from worker import control_worker
from workflows.search_attributes import ALERTS

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AVAILABILITY = Slo(name="availability", kind="availability", objective=0.99)
FAST = Slo(name="fast", kind="latency", objective=0.9, threshold_ms=500)


def test_burn_rate_is_the_bad_share_over_the_allowed_one() -> None:
    assert burn_rate(5, 100, 0.99) == pytest.approx(5.0)
    assert burn_rate(0, 0, 0.99) == 0.0  # no traffic burns nothing
    page, ticket = RULES
    both_fast = {
        page.long: (20, 100),
        page.short: (3, 10),
        ticket.long: (20, 1000),
        ticket.short: (0, 50),
    }
    states = {s.severity: s for s in alert_states(both_fast, 0.99)}
    assert states["page"].firing and states["page"].long_burn == pytest.approx(20.0)
    assert not states["ticket"].firing  # 2x over six hours: not a ticket
    # Burning over the long window but not any more (the short one is clean): no page.
    over = {page.long: (20, 100), page.short: (0, 10), ticket.long: (0, 1), ticket.short: (0, 1)}
    assert not {s.severity: s for s in alert_states(over, 0.99)}["page"].firing


def rows(route: str, at: datetime, ok: int, errors: int = 0, latency_ms: float = 100.0):
    tag = uuid.uuid4().hex[:6]
    return [
        OutcomeRecord(
            request_id=f"{route}-{tag}-{i}",
            tenant_id="acme",
            route=route,
            variant="main",
            status="error" if i < errors else "ok",
            latency_ms=latency_ms,
            started_at=at - timedelta(milliseconds=latency_ms),
            finished_at=at,
        )
        for i in range(ok + errors)
    ]


def slo_route(engine, name: str, *slos: Slo) -> None:
    target = RouteTarget(variant="main", provider="simulated", model="sim-fast")
    publish_routes(engine, [RouteConfig(name=name, targets=[target], slos=list(slos))])


def test_an_outage_pages_and_the_page_clears_after_it(engine) -> None:
    slo_route(engine, "checkout", AVAILABILITY)
    record_outcomes(engine, rows("checkout", NOW - timedelta(minutes=30), ok=100))
    # The outage: half of the last five minutes' requests fail.
    outage = rows("checkout", NOW - timedelta(minutes=2), ok=50, errors=50)
    # A request that failed and was answered by a fallback counts once, as answered.
    rescued = rows("checkout", NOW - timedelta(minutes=2), ok=0, errors=1)
    rescued.append(rescued[0].model_copy(update={"arm": "fallback-1", "status": "ok"}))
    record_outcomes(engine, outage + rescued)
    check = check_slos(engine, NOW)
    assert check.firing == ["checkout/availability/page", "checkout/availability/ticket"]
    assert check.routes_burning_fast == ["checkout"]
    page = next(c for c in check.changes if c.severity == "page")
    # 50 bad of 201 in the hour (25x), 50 of 101 in five minutes (50x).
    assert page.firing and page.burn_rates == {
        "1h": pytest.approx(24.876, abs=1e-3),
        "5m": pytest.approx(49.505, abs=1e-3),
    }
    assert "burning its error budget at 24.9x over 1h and 49.5x over 5m" in page.description
    # Ten minutes on, the outage is over: the page clears; the ticket's windows still hold it.
    later = NOW + timedelta(minutes=10)
    record_outcomes(engine, rows("checkout", later - timedelta(minutes=1), ok=100))
    after = check_slos(engine, later)
    assert after.firing == ["checkout/availability/ticket"]
    assert [(c.severity, c.firing) for c in after.changes] == [("page", False)]
    assert after.routes_burning_fast == []
    stored = {(a.severity, a.firing) for a in alert_rows(engine) if a.route == "checkout"}
    assert stored == {("page", False), ("ticket", True)}
    # Nothing changed since: nothing to announce.
    assert check_slos(engine, later).changes == []


def test_a_latency_slo_counts_answers_slower_than_its_threshold(engine) -> None:
    slo_route(engine, "search", FAST)
    record_outcomes(
        engine,
        rows("search", NOW - timedelta(minutes=1), ok=60, latency_ms=900)
        + rows("search", NOW - timedelta(minutes=1), ok=40, latency_ms=100),
    )
    check = check_slos(engine, NOW)
    # 60% slow against 10% allowed: 6x, a ticket's rate but short of a page's.
    assert check.firing == ["search/fast/ticket"]


def test_slos_in_the_route_file_are_kept_with_the_version(engine) -> None:
    text = """
name: checkout
variants: [{variant: main, provider: simulated, model: sim-fast}]
slos:
  - {name: availability, kind: availability, objective: 0.995}
  - {name: fast, kind: latency, objective: 0.99, threshold_ms: 2000}
"""
    [config] = parse_routes(text, "checkout.yaml")
    publish_routes(engine, [config])
    _, live = live_config(engine, "checkout")  # type: ignore[misc]
    assert [s.name for s in live.slos] == ["availability", "fast"]
    assert live.slos[1].threshold_ms == 2000
    with pytest.raises(RouteFileError, match="threshold_ms"):
        parse_routes(text.replace(", threshold_ms: 2000", ""), "checkout.yaml")


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()


async def test_the_monitoring_workflow_alerts_and_pauses_the_routes_rollout(stack, webhook) -> None:
    url, received = webhook
    route = f"slo-{uuid.uuid4().hex[:6]}"
    slo_route(stack.engine, route, AVAILABILITY)
    spec = spec_for(route, candidate_errors=0.0).model_copy(update={"baseline": "main"})
    started = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    now = datetime.now(UTC)
    record_outcomes(stack.engine, rows(route, now - timedelta(seconds=30), ok=10, errors=30))
    queue = f"slo-test-{route}"
    # A control worker of the test's own, with the webhook set.
    async with control_worker(stack.client, stack.engine, queue, url):
        handle = await stack.client.start_workflow(
            "SloMonitoring", id=f"slo-check-{route}", task_queue=queue, result_type=SloCheck
        )
        check = await asyncio.wait_for(handle.result(), 60)
    mine = [f for f in check.firing if f.startswith(f"{route}/")]
    assert mine == [f"{route}/availability/page", f"{route}/availability/ticket"]
    described = await handle.describe()
    assert f"{route}/availability/page" in described.typed_search_attributes[ALERTS]
    sent = [change for change in received if change["route"] == route]
    assert {(c["severity"], c["firing"]) for c in sent} == {("page", True), ("ticket", True)}
    shown = await shown_when(stack, started, status="paused")
    assert shown["status"] == "paused"
    await stack.client.get_workflow_handle(started).execute_update("abort")
