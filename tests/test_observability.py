"""Metrics and logs as an operator scrapes and reads them, on the real stack.

- /metrics serves the Temporal SDK's own metrics beside Interlock's, in one scrape;
- cost, cache, breaker, budget, rollout and traffic-share metrics show what happened and what the
  store holds;
- `interlock worker`'s own /metrics serves the same kind of exposition;
- JSON log lines carry the request, rollout and experiment ids;
- the Grafana dashboard asks only for metrics the gateway exports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete
from temporalio.testing import ActivityEnvironment

import worker as worker_module
from configuration.log_fields import log_fields
from configuration.process import configure_logging
from contracts.routing import CachePolicy, RouteTarget, ShadowTarget
from operations.rollouts import control_rollout, start_rollout
from store.breakers import change_breaker
from store.budgets import remove_budget, set_budget
from store.routes import RouteConfig, publish_routes
from store.tables import CircuitBreaker
from store.tenants import ensure_tenant
from tests.conftest import free_port, publish_down_route
from tests.rollout_helpers import publish_baseline, spec_for

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "interlock.json"
# Metric names in PromQL: what the dashboard may name is ours, the SDK's or the process's.
METRIC_NAME = re.compile(r"\b(?:interlock|temporal|process)_[a-z0-9_]+\b")


def _body(model: str, content: str = "hello", **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def _post(stack, body: dict, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        return await http.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {stack.api_key}", **headers},
        )


async def _scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        scraped = await http.get(url)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    return scraped.text


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], as Prometheus would read the exposition."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: dict, name: str, **labels: str) -> float | None:
    for found, value in samples.get(name, []):
        if all(found.get(k) == v for k, v in labels.items()):
            return value
    return None


def _exported_names(text: str) -> set[str]:
    """Every series name a query could ask for: the samples present, and the names a declared
    family has even before its first sample (a gauge of budgets when none is set)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}_{part}" for part in ("bucket", "sum", "count"))
        else:
            names.add(family.name)
    return names


async def _sdk_traffic(stack) -> None:
    """What makes the SDK record its metrics: a plain request (a workflow task, a local
    activity), a streamed one (a regular activity, so a schedule-to-start), and a plain and a
    streamed one whose provider always fails (a failed local and regular activity)."""
    down = publish_down_route(stack.engine, f"obs-down-{uuid.uuid4().hex[:8]}")
    assert (await _post(stack, _body("chat"))).status_code == 200
    assert (await _post(stack, _body("chat", stream=True))).status_code == 200
    await _post(stack, _body(down))
    await _post(stack, _body(down, stream=True))


async def test_one_scrape_serves_the_sdk_metrics_beside_interlock_ones(stack) -> None:
    await _sdk_traffic(stack)
    text = await _scrape(f"{stack.base_url}/metrics")
    samples = _samples(text)
    types = {family.name: family.type for family in text_string_to_metric_families(text)}

    assert _value(samples, "interlock_requests_total", route="chat", status="ok")
    # The SDK's names, as its own exporter spells them with counters_total_suffix and
    # durations_as_seconds: histograms in seconds, counters ending in _total.
    assert types["temporal_workflow_task_execution_latency"] == "histogram"
    assert types["temporal_request"] == "counter"
    assert _value(samples, "temporal_request_total", operation="StartWorkflowExecution")
    assert _value(
        samples, "temporal_workflow_task_execution_latency_count", workflow_type="RequestWorkflow"
    )
    assert _value(samples, "temporal_activity_schedule_to_start_latency_count")
    assert _value(samples, "temporal_activity_execution_failed_total")
    # One `_total`, also on the SDK's counter whose name ends in it already.
    assert "temporal_local_activity_total" in samples
    assert "temporal_local_activity_total_total" not in samples
    # Seconds, not milliseconds: a plain request's task is done well within a second.
    fast = _value(
        samples,
        "temporal_workflow_task_execution_latency_bucket",
        workflow_type="RequestWorkflow",
        le="1.0",
    )
    total = _value(
        samples,
        "temporal_workflow_task_execution_latency_bucket",
        workflow_type="RequestWorkflow",
        le="+Inf",
    )
    assert fast and total and fast / total > 0.5
    assert "process_cpu_seconds_total" in samples


async def test_cost_and_cache_are_counted_by_route(stack) -> None:
    route = f"obs-cached-{uuid.uuid4().hex[:8]}"
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=route,
                targets=[
                    RouteTarget(
                        variant="base",
                        provider="simulated",
                        model="sim-smart",
                        options={"error_rate": 0.0},
                    )
                ],
                cache=CachePolicy(ttl_seconds=600),
            )
        ],
    )
    for _ in range(3):
        assert (await _post(stack, _body(route, "the same question"))).status_code == 200
    samples = _samples(await _scrape(f"{stack.base_url}/metrics"))
    assert _value(samples, "interlock_cache_lookups_total", route=route, result="miss") == 1
    assert _value(samples, "interlock_cache_lookups_total", route=route, result="hit") == 2
    cost = _value(samples, "interlock_cost_usd_total", route=route, provider="simulated")
    assert cost is not None and cost > 0  # the one answer paid for; the hits cost nothing


async def test_breaker_budget_and_traffic_shares_are_read_from_the_store(stack) -> None:
    model = f"sim-obs-{uuid.uuid4().hex[:8]}"
    tenant = f"obs-tenant-{uuid.uuid4().hex[:8]}"
    route = f"obs-split-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, tenant)
    set_budget(stack.engine, tenant, 5.0, "day")
    set_budget(stack.engine, tenant, 40.0, "month", route=route)
    assert change_breaker(stack.engine, ("simulated", model), None, "open", reason="test")
    sim = {"provider": "simulated", "model": "sim-fast"}
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=route,
                targets=[
                    RouteTarget(variant="base", weight=3, **sim),
                    RouteTarget(variant="next", weight=1, **sim),
                    RouteTarget(variant="spare", weight=0, **sim),
                ],
                shadow=ShadowTarget(
                    target=RouteTarget(variant="shadowed", weight=0, **sim), sample=0.1
                ),
            )
        ],
    )
    try:
        samples = _samples(await _scrape(f"{stack.base_url}/metrics"))
        assert _value(samples, "interlock_breaker_state", provider="simulated", model=model) == 2
        assert _value(samples, "interlock_breaker_state", model="sim-fast") in (None, 0)
        day = {"tenant": tenant, "route": "*", "period": "day"}
        assert _value(samples, "interlock_budget_limit_usd", **day) == 5.0
        assert _value(samples, "interlock_budget_remaining_usd", **day) == 5.0
        month = {"tenant": tenant, "route": route, "period": "month"}
        assert _value(samples, "interlock_budget_remaining_usd", **month) == 40.0
        shares = {
            variant: _value(samples, "interlock_route_variant_share", route=route, variant=variant)
            for variant in ("base", "next", "spare")
        }
        assert shares == {"base": 0.75, "next": 0.25, "spare": 0.0}
        sampled = _value(samples, "interlock_route_shadow_sample", route=route, variant="shadowed")
        assert sampled == 0.1
    finally:
        remove_budget(stack.engine, tenant)
        remove_budget(stack.engine, tenant, route)
        with stack.engine.begin() as connection:
            connection.execute(delete(CircuitBreaker).where(CircuitBreaker.model == model))
    # Gone from the store, gone from the scrape: no stale series.
    after = _samples(await _scrape(f"{stack.base_url}/metrics"))
    assert _value(after, "interlock_budget_remaining_usd", tenant=tenant) is None
    assert _value(after, "interlock_breaker_state", model=model) is None


async def test_a_running_rollout_shows_its_stage_and_candidate_share(stack) -> None:
    route = f"obs-rollout-{uuid.uuid4().hex[:8]}"
    publish_baseline(stack, route)
    spec = spec_for(
        route, 0.0, steps=[{"weight": 20, "min_requests": 100_000, "time_limit": "10m"}]
    )
    workflow_id = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            samples = _samples(await _scrape(f"{stack.base_url}/metrics"))
            stage = _value(
                samples,
                "interlock_rollout_stage",
                route=route,
                stage="canary 20%",
                status="running",
            )
            if stage == 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert stage == 1
        share = _value(samples, "interlock_route_variant_share", route=route, variant="next")
        assert share == pytest.approx(0.2)
    finally:
        await control_rollout(stack.client, workflow_id, "abort", "the test is over")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = _samples(await _scrape(f"{stack.base_url}/metrics"))
        if _value(samples, "interlock_rollout_stage", route=route) is None:
            break
        await asyncio.sleep(0.5)
    assert _value(samples, "interlock_rollout_stage", route=route) is None


async def test_the_worker_serves_its_own_metrics(stack, caplog) -> None:
    # The stack's workers run in this process, on the same Temporal runtime as `interlock
    # worker` would: the worker's endpoint serves what they recorded.
    assert (await _post(stack, _body("chat"))).status_code == 200
    port = free_port()
    settings = stack.settings.model_copy(update={"worker_metrics_port": port})
    server = worker_module.serve_metrics(settings)
    assert server is not None
    try:
        text = await _scrape(f"http://127.0.0.1:{port}/metrics")
        samples = _samples(text)
        assert _value(samples, "temporal_request_total")
        assert "temporal_workflow_task_execution_latency_bucket" in samples
        assert "process_resident_memory_bytes" in samples
        # A second worker on the same host: no endpoint, said once, and the worker still runs.
        caplog.set_level(logging.WARNING, logger="interlock.worker")
        assert worker_module.serve_metrics(settings) is None
        assert "worker metrics not served" in caplog.text
    finally:
        server.shutdown()
        server.server_close()
    off = stack.settings.model_copy(update={"worker_metrics_port": 0})
    assert worker_module.serve_metrics(off) is None


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The process's logging as `interlock gateway` sets it up with INTERLOCK_LOG_FORMAT=json,
    writing into a buffer; the test's own logging is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(level="INFO", log_format="json", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_json_log_lines_name_the_request_they_belong_to(
    stack, json_logs, monkeypatch
) -> None:
    import gateway.app

    admit = gateway.app.admit_request
    said = logging.getLogger("interlock.test.observability")

    async def admit_and_say(*args, **kwargs):
        said.info("admitting")
        return await admit(*args, **kwargs)

    monkeypatch.setattr(gateway.app, "admit_request", admit_and_say)
    answered = await _post(stack, _body("chat"))
    assert answered.status_code == 200
    lines = [line for line in _lines(json_logs) if line["message"] == "admitting"]
    assert lines, json_logs.getvalue()
    line = lines[-1]
    assert set(line) >= {"timestamp", "level", "logger", "message", "request_id"}
    assert line["request_id"] == answered.headers["x-request-id"]
    assert line["level"] == "INFO" and line["logger"] == "interlock.test.observability"
    assert line["timestamp"].endswith("+00:00")


async def test_json_log_lines_carry_temporal_and_operator_context(json_logs) -> None:
    said = logging.getLogger("interlock.test.observability")
    with log_fields(experiment_id="writer-tone"):
        said.warning("looked at %s", "the arms")
    try:
        raise ValueError("broken on purpose")
    except ValueError:
        said.exception("it failed")

    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        workflow_type="RolloutWorkflow",
        workflow_id="rollout-chat",
        activity_type="look_at_rollout",
    )
    environment.run(lambda: said.info("inside an activity"))

    experiment, failed, in_activity = _lines(json_logs)[-3:]
    assert experiment["message"] == "looked at the arms"
    assert experiment["experiment_id"] == "writer-tone" and "request_id" not in experiment
    assert failed["level"] == "ERROR" and "ValueError: broken on purpose" in failed["exception"]
    assert in_activity["rollout_id"] == "rollout-chat"
    assert in_activity["workflow_type"] == "RolloutWorkflow"
    assert in_activity["activity_type"] == "look_at_rollout"


def test_text_logs_append_the_ids() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(level="INFO", log_format="text", stream=buffer)
    try:
        with log_fields(request_id="chatcmpl-abc"):
            logging.getLogger("interlock.test").info("hello")
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
    assert buffer.getvalue().rstrip().endswith("interlock.test: hello [request_id=chatcmpl-abc]")


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="INTERLOCK_LOG_FORMAT"):
        configure_logging(log_format="xml", stream=io.StringIO())


async def test_the_dashboard_asks_only_for_exported_metrics(stack) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    await _sdk_traffic(stack)
    exported = _exported_names(await _scrape(f"{stack.base_url}/metrics"))
    panels = [p for p in _panels(dashboard["panels"]) if p.get("type") != "row"]
    assert panels
    for panel in panels:
        expressions = [t["expr"] for t in panel.get("targets", [])]
        assert expressions, f"panel {panel['title']!r} has no query"
        for expression in expressions:
            names = set(METRIC_NAME.findall(expression))
            assert names, f"panel {panel['title']!r} queries no metric: {expression}"
            missing = names - exported
            assert not missing, f"panel {panel['title']!r} asks for {sorted(missing)}"
    titles = " ".join(p["title"].lower() for p in panels)
    for subject in (
        "request rate",
        "error",
        "latency",
        "cost",
        "cache hit",
        "breaker",
        "budget",
        "rollout",
        "burn rate",
        "workflow task",
        "activity fail",
        "schedule-to-start",
    ):
        assert subject in titles, f"no panel on {subject}"


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))
