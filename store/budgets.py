"""Budgets that cannot overshoot: reserve a request's worst case before its call, settle to what
it cost after, once.

A tenant may have a budget on all its routes (route '*') and one per route, each per day or per
month (UTC). Admitting a request reserves its worst-case cost against every budget that applies,
in one transaction, with a conditional update per budget (spent + reserved + worst <= limit): on
PostgreSQL the row lock makes concurrent reservations queue and re-check, on SQLite the write lock
does, so no interleaving of gateways can pass a budget between them. Settling swaps the
reservation for the actual cost; the reservation's own row makes it happen once however often
the step is retried. A request that never settles (its worker lost with it) is charged its worst
case once it is older than the request timeout, the only charge known not to be too small.

Amounts are integers in billionths of a dollar (nano-USD), so the sums are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine

from store.engine import insert_for
from store.tables import Budget, BudgetReservation, BudgetUsage

Period = Literal["day", "month"]
EVERY_ROUTE = "*"
NANO = 1_000_000_000

_budgets = Budget.__table__  # type: ignore[attr-defined]
_usage = BudgetUsage.__table__  # type: ignore[attr-defined]
_reservations = BudgetReservation.__table__  # type: ignore[attr-defined]


def to_nano(usd: float) -> int:
    """Dollars to nano-USD, rounded up: a charge is never smaller than what it stands for."""
    return math.ceil(round(usd * NANO, 3))


def window_of(period: str, at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d") if period == "day" else at.strftime("%Y-%m")


def window_end(period: str, at: datetime) -> datetime:
    """When the window holding `at` ends (the next one begins), UTC."""
    at = at.astimezone(UTC)
    if period == "day":
        return datetime(at.year, at.month, at.day, tzinfo=UTC) + timedelta(days=1)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BudgetRule:
    tenant_id: str
    route: str
    """'*' for every route of the tenant."""
    period: Period
    limit_nusd: int

    def applies_to(self, route: str) -> bool:
        return self.route in (EVERY_ROUTE, route)

    def describe(self) -> str:
        scope = "" if self.route == EVERY_ROUTE else f" on route {self.route!r}"
        daily = "daily" if self.period == "day" else "monthly"
        return f"tenant {self.tenant_id!r}'s {daily} budget of {usd(self.limit_nusd)}{scope}"


@dataclass(frozen=True)
class BudgetState:
    rule: BudgetRule
    window: str
    reserved_nusd: int
    spent_nusd: int

    @property
    def remaining_nusd(self) -> int:
        return max(0, self.rule.limit_nusd - self.spent_nusd - self.reserved_nusd)


class OverBudget(Exception):
    """The request's worst case does not fit in one of its budgets."""

    def __init__(self, state: BudgetState, worst_nusd: int, resets_at: datetime) -> None:
        self.state, self.worst_nusd, self.resets_at = state, worst_nusd, resets_at
        super().__init__(
            f"{state.rule.describe()} cannot cover this request: {usd(state.spent_nusd)} spent "
            f"and {usd(state.reserved_nusd)} held by requests in flight, and this one could "
            f"cost up to {usd(worst_nusd)}. It resets at {resets_at:%Y-%m-%dT%H:%MZ}."
        )


def usd(nusd: int) -> str:
    return f"${nusd / NANO:,.6f}".rstrip("0").rstrip(".") if nusd else "$0"


# --- configuration -------------------------------------------------------------------------


def set_budget(
    engine: Engine, tenant_id: str, limit_usd: float, period: Period, route: str = EVERY_ROUTE
) -> BudgetRule:
    if not (limit_usd >= 0 and math.isfinite(limit_usd)):
        raise ValueError(f"a budget is a finite amount of 0 or more, got {limit_usd}")
    if period not in ("day", "month"):
        raise ValueError(f"a budget's period is day or month, got {period!r}")
    rule = BudgetRule(tenant_id, route, period, math.floor(round(limit_usd * NANO, 3)))
    values = {
        "tenant_id": tenant_id,
        "route": route,
        "period": period,
        "limit_nusd": rule.limit_nusd,
        "updated_at": datetime.now(UTC),
    }
    with engine.begin() as connection:
        statement = insert_for(connection.dialect.name)(_budgets).values(**values)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "route"],
                set_={k: v for k, v in values.items() if k not in ("tenant_id", "route")},
            )
        )
    return rule


def remove_budget(engine: Engine, tenant_id: str, route: str = EVERY_ROUTE) -> bool:
    with engine.begin() as connection:
        removed = connection.execute(
            _budgets.delete().where(_budgets.c.tenant_id == tenant_id, _budgets.c.route == route)
        )
    return removed.rowcount > 0


def budget_rules(engine: Engine, tenant_id: str) -> list[BudgetRule]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(_budgets).where(_budgets.c.tenant_id == tenant_id).order_by(_budgets.c.route)
        ).all()
    return [BudgetRule(r.tenant_id, r.route, r.period, r.limit_nusd) for r in rows]


def budget_states(engine: Engine, tenant_id: str, at: datetime | None = None) -> list[BudgetState]:
    """Each budget of the tenant in its current window: limit, reserved, spent."""
    at = at or datetime.now(UTC)
    rules = budget_rules(engine, tenant_id)
    with engine.connect() as connection:
        return [_state_of(connection, rule, window_of(rule.period, at)) for rule in rules]


# --- the request path ------------------------------------------------------------------------


def reserve(
    engine: Engine,
    request_id: str,
    rules: list[BudgetRule],
    route: str,
    worst_usd: float,
    at: datetime | None = None,
) -> int:
    """Hold `worst_usd` against every rule that applies to `route`; nano-USD held. Raises
    OverBudget (holding nothing) when one cannot take it. Reserving a request id twice holds
    it once."""
    at = at or datetime.now(UTC)
    applying = sorted((r for r in rules if r.applies_to(route)), key=lambda r: r.route)
    if not applying:
        return 0
    worst = to_nano(worst_usd)
    charges = [[rule.route, window_of(rule.period, at)] for rule in applying]
    with engine.begin() as connection:
        _lock_for_writing(connection)
        held = connection.execute(
            select(_reservations.c.reserved_nusd).where(_reservations.c.request_id == request_id)
        ).scalar()
        if held is not None:
            return int(held)
        # Budgets in route order, so two transactions never wait on each other in a cycle.
        for rule, (_route, window) in zip(applying, charges, strict=True):
            key = {"tenant_id": rule.tenant_id, "route": rule.route, "window": window}
            connection.execute(
                insert_for(connection.dialect.name)(_usage)
                .values(**key, reserved_nusd=0, spent_nusd=0)
                .on_conflict_do_nothing()
            )
            took = connection.execute(
                update(_usage)
                .where(
                    *_usage_key(key),
                    _usage.c.spent_nusd + _usage.c.reserved_nusd + worst <= rule.limit_nusd,
                )
                .values(reserved_nusd=_usage.c.reserved_nusd + worst)
            )
            if took.rowcount != 1:
                # Raised inside the transaction: it rolls back whatever this request had held.
                state = _state_of(connection, rule, window)
                raise OverBudget(state, worst, window_end(rule.period, at))
        connection.execute(
            insert(_reservations).values(
                request_id=request_id,
                tenant_id=applying[0].tenant_id,
                reserved_nusd=worst,
                charges=charges,
                created_at=at,
            )
        )
    return worst


def settle(engine: Engine, request_id: str, cost_usd: float, at: datetime | None = None) -> bool:
    """Replace the request's reservation with what it cost; False if it had none or was
    settled already (a retried step)."""
    at = at or datetime.now(UTC)
    with engine.begin() as connection:
        _lock_for_writing(connection)
        return _settle_in(connection, request_id, to_nano(cost_usd), at)


def charge_expired(engine: Engine, tenant_id: str, older_than: datetime) -> int:
    """Settle the tenant's reservations made before `older_than` at their worst case: requests
    that will never settle (their worker was lost). How many were charged."""
    with engine.begin() as connection:
        _lock_for_writing(connection)
        stale = connection.execute(
            select(_reservations.c.request_id, _reservations.c.reserved_nusd).where(
                _reservations.c.tenant_id == tenant_id,
                _reservations.c.settled_at.is_(None),
                _reservations.c.created_at < older_than,
            )
        ).all()
        now = datetime.now(UTC)
        return sum(_settle_in(connection, row.request_id, row.reserved_nusd, now) for row in stale)


def _settle_in(connection: Connection, request_id: str, cost: int, at: datetime) -> bool:
    settled = connection.execute(
        update(_reservations)
        .where(_reservations.c.request_id == request_id, _reservations.c.settled_at.is_(None))
        .values(settled_at=at, cost_nusd=cost)
        .returning(
            _reservations.c.tenant_id, _reservations.c.reserved_nusd, _reservations.c.charges
        )
    ).first()
    if settled is None:
        return False
    for route, window in settled.charges:
        key = {"tenant_id": settled.tenant_id, "route": route, "window": window}
        connection.execute(
            update(_usage)
            .where(*_usage_key(key))
            .values(
                reserved_nusd=_usage.c.reserved_nusd - settled.reserved_nusd,
                spent_nusd=_usage.c.spent_nusd + cost,
            )
        )
    return True


def _state_of(connection: Connection, rule: BudgetRule, window: str) -> BudgetState:
    key = {"tenant_id": rule.tenant_id, "route": rule.route, "window": window}
    row = connection.execute(
        select(_usage.c.reserved_nusd, _usage.c.spent_nusd).where(*_usage_key(key))
    ).first()
    reserved, spent = (0, 0) if row is None else (row.reserved_nusd, row.spent_nusd)
    return BudgetState(rule, window, int(reserved), int(spent))


def _usage_key(key: dict[str, str]) -> list:
    return [
        and_(
            _usage.c.tenant_id == key["tenant_id"],
            _usage.c.route == key["route"],
            _usage.c.window == key["window"],
        )
    ]


def _lock_for_writing(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Reads then writes in one transaction: take the write lock before the reads.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
