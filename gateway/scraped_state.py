"""What the gateway's /metrics reads at each scrape: state that lives in the store (the
breakers' in Redis when it is configured, and a rollout's stage in Temporal's visibility) rather
than in this process.

Budgets, circuit breakers, routes' traffic shares and running rollouts are shared by every
gateway; reading them at scrape time makes every gateway export the same values, costs the
request path nothing, and a few small queries per scrape. Every label value is a name an
operator chose (tenant ids, routes, variants, providers and models of configured routes) or a
closed set (periods, breaker states, rollout statuses), never anything a client sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from temporalio.client import Client

from store.breaker_states import BreakerStates
from store.breakers import Breaker
from store.budgets import BudgetRule, BudgetState, window_of
from store.slo_records import alert_rows
from store.tables import Budget, BudgetUsage, Route, RouteVariant, RouteVersion, SloAlert
from workflows.search_attributes import ROUTE, STAGE, STATUS

_budgets = Budget.__table__  # type: ignore[attr-defined]
_usage = BudgetUsage.__table__  # type: ignore[attr-defined]
_routes = Route.__table__  # type: ignore[attr-defined]
_versions = RouteVersion.__table__  # type: ignore[attr-defined]
_variants = RouteVariant.__table__  # type: ignore[attr-defined]

VISIBILITY_TIMEOUT = timedelta(seconds=2)


@dataclass(frozen=True)
class VariantShare:
    route: str
    variant: str
    share: float
    """The variant's share of the route's traffic, 0 to 1 (0 for a fallback-only variant)."""


@dataclass(frozen=True)
class ShadowShare:
    route: str
    variant: str
    sample: float
    """Share of the route's requests also sent to the shadow candidate in the background."""


@dataclass(frozen=True)
class StoreState:
    alerts: list[SloAlert]
    breakers: list[Breaker]
    budgets: list[BudgetState]
    variant_shares: list[VariantShare]
    shadows: list[ShadowShare]


@dataclass(frozen=True)
class RunningRollout:
    route: str
    stage: str
    status: str


def read_store_state(
    engine: Engine, breakers: BreakerStates, at: datetime | None = None
) -> StoreState:
    at = at or datetime.now(UTC)
    shares, shadows = _live_traffic(engine)
    return StoreState(
        alerts=alert_rows(engine),
        breakers=list(breakers.read().values()),
        budgets=_budget_states(engine, at),
        variant_shares=shares,
        shadows=shadows,
    )


def _budget_states(engine: Engine, at: datetime) -> list[BudgetState]:
    """Every tenant's budgets in their current windows, in two queries whatever their number."""
    windows = {period: window_of(period, at) for period in ("day", "month")}
    with engine.connect() as connection:
        rules = connection.execute(select(_budgets)).all()
        used = connection.execute(
            select(_usage).where(_usage.c.window.in_(list(windows.values())))
        ).all()
    usage = {(u.tenant_id, u.route, u.window): u for u in used}
    states = []
    for row in rules:
        rule = BudgetRule(row.tenant_id, row.route, row.period, int(row.limit_nusd))
        window = windows.get(rule.period, window_of(rule.period, at))
        found = usage.get((rule.tenant_id, rule.route, window))
        reserved, spent = (0, 0) if found is None else (found.reserved_nusd, found.spent_nusd)
        states.append(BudgetState(rule, window, int(reserved), int(spent)))
    return states


def _live_traffic(engine: Engine) -> tuple[list[VariantShare], list[ShadowShare]]:
    """Each live variant's share of its route's traffic, and each route's shadow target."""
    live = and_(
        _variants.c.route_name == _routes.c.name,
        _variants.c.version == _routes.c.active_version,
    )
    live_version = and_(
        _versions.c.route_name == _routes.c.name,
        _versions.c.version == _routes.c.active_version,
    )
    with engine.connect() as connection:
        variants = connection.execute(
            select(_variants.c.route_name, _variants.c.variant, _variants.c.weight).join(
                _routes, live
            )
        ).all()
        versions = connection.execute(
            select(_versions.c.route_name, _versions.c.shadow)
            .join(_routes, live_version)
            .where(_versions.c.shadow.is_not(None))
        ).all()
    totals: dict[str, float] = {}
    for row in variants:
        totals[row.route_name] = totals.get(row.route_name, 0.0) + max(row.weight, 0.0)
    shares = [
        VariantShare(
            row.route_name,
            row.variant,
            max(row.weight, 0.0) / totals[row.route_name] if totals[row.route_name] else 0.0,
        )
        for row in variants
    ]
    shadows = [
        ShadowShare(row.route_name, row.shadow["target"]["variant"], float(row.shadow["sample"]))
        for row in versions
        if isinstance(row.shadow, dict) and "target" in row.shadow
    ]
    return shares, shadows


async def running_rollouts(client: Client) -> list[RunningRollout]:
    """The rollouts running now, with the stage and status their workflow last set."""
    running = []
    async for run in client.list_workflows(
        'WorkflowType = "RolloutWorkflow" AND ExecutionStatus = "Running"',
        rpc_timeout=VISIBILITY_TIMEOUT,
    ):
        attributes = run.typed_search_attributes
        route = attributes.get(ROUTE)
        if route is not None:
            running.append(
                RunningRollout(
                    route, attributes.get(STAGE) or "starting", attributes.get(STATUS) or "running"
                )
            )
    return running
