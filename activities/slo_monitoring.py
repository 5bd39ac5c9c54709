"""One SLO check: every route's SLOs read against its recent outcome rows, each burn-rate alert's
state updated, the changes sent to the configured webhook, and the rollouts of routes burning
their budget fast paused for a person (experiments/burn_rate.py has the rules).

Run by the SloMonitoring workflow every minute (a Temporal Schedule); the alert states are kept in
the store, so every gateway exports them to Prometheus and the next check knows what changed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from contracts.slo import AlertChange, SloCheck
from experiments.burn_rate import WINDOWS, alert_states, window_name
from operations.rollouts import RolloutCommandError, control_rollout
from store.routes import list_routes, live_config
from store.slo_records import bad_and_total, set_alert

log = logging.getLogger(__name__)


def check_slos(engine: Engine, now: datetime) -> SloCheck:
    check = SloCheck()
    fast: set[str] = set()
    for route in list_routes(engine):
        found = live_config(engine, route.name)
        if found is None or not found[1].slos:
            continue
        for slo in found[1].slos:
            counts = bad_and_total(engine, route.name, slo, now, list(WINDOWS))
            for state in alert_states(counts, slo.objective):
                rule = state.rule
                changed = set_alert(
                    engine,
                    route.name,
                    slo.name,
                    state.severity,
                    state.firing,
                    state.long_burn,
                    state.short_burn,
                    now,
                )
                label = f"{route.name}/{slo.name}/{state.severity}"
                if state.firing:
                    check.firing.append(label)
                    if state.severity == "page":
                        fast.add(route.name)
                if changed:
                    burn = {
                        window_name(rule.long): round(state.long_burn, 3),
                        window_name(rule.short): round(state.short_burn, 3),
                    }
                    verb = "burning" if state.firing else "no longer burning"
                    check.changes.append(
                        AlertChange(
                            route=route.name,
                            slo=slo.name,
                            severity=state.severity,
                            firing=state.firing,
                            burn_rates=burn,
                            description=(
                                f"route {route.name}: SLO {slo.name} ({slo.kind} "
                                f"{slo.objective:.3%}) {verb} its error budget at "
                                f"{state.long_burn:.1f}x over {window_name(rule.long)} and "
                                f"{state.short_burn:.1f}x over {window_name(rule.short)} "
                                f"(alert at {rule.factor:g}x)"
                            ),
                        )
                    )
    check.routes_burning_fast = sorted(fast)
    return check


class SloActivities:
    def __init__(self, engine: Engine, client: Client, webhook_url: str | None) -> None:
        self._engine = engine
        self._client = client
        self._webhook_url = webhook_url

    @activity.defn(name="check_slos")
    async def check(self, _: None = None) -> SloCheck:
        return await asyncio.to_thread(check_slos, self._engine, datetime.now(UTC))

    @activity.defn(name="send_alert_changes")
    async def notify(self, changes: list[AlertChange]) -> int:
        """POST each change to the webhook as JSON; a failure is retried by the activity."""
        if not self._webhook_url or not changes:
            return 0
        async with httpx.AsyncClient(timeout=10) as http:
            for change in changes:
                try:
                    response = await http.post(self._webhook_url, json=change.model_dump())
                except httpx.HTTPError as exc:
                    raise ApplicationError(f"alert webhook unreachable: {exc}") from None
                if response.status_code >= 300:
                    raise ApplicationError(f"alert webhook answered {response.status_code}")
        return len(changes)

    @activity.defn(name="pause_rollouts_burning_fast")
    async def pause(self, routes: list[str]) -> list[str]:
        """Pause the running rollout of each route, if it has one; the ones paused."""
        paused = []
        for route in routes:
            try:
                await control_rollout(self._client, f"rollout-{route}", "pause")
            except RolloutCommandError as exc:
                log.info("no rollout of %s paused: %s", route, exc)
                continue
            paused.append(route)
        return paused
