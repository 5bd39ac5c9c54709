"""What the SLO checks read (requests good and bad per window, from the outcome rows) and keep
(where each burn-rate alert stands)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as select_rows

from contracts.slo import Slo
from store.engine import insert_for
from store.tables import Outcome, SloAlert


def bad_and_total(
    engine: Engine, route: str, slo: Slo, now: datetime, windows: list[timedelta]
) -> dict[timedelta, tuple[int, int]]:
    """(bad, total) requests of `route` in each window ending at `now`, as its clients saw them:
    a request counts once, good if any arm answered it (a fallback's answer is an answer), and
    for a latency SLO only if that answer came within the threshold. Shadow copies are not the
    clients' requests and are left out."""
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    answered = outcomes.status.in_(("ok", "blocked"))
    if slo.kind == "latency":
        answered = and_(outcomes.status == "ok", outcomes.latency_ms <= slo.threshold_ms)
    longest = max(windows)
    columns = []
    for index, window in enumerate(windows):
        inside = outcomes.finished_at >= now - window
        columns.append(
            func.count(func.distinct(case((inside, outcomes.request_id)))).label(f"total{index}")
        )
        columns.append(
            func.count(func.distinct(case((and_(inside, answered), outcomes.request_id)))).label(
                f"good{index}"
            )
        )
    query = select(*columns).where(
        outcomes.route == route,
        outcomes.arm != "shadow",
        outcomes.status != "cancelled",  # the client left: neither good nor bad
        outcomes.finished_at >= now - longest,
        outcomes.finished_at <= now,
    )
    with engine.connect() as connection:
        row = connection.execute(query).one()
    counts = {}
    for index, window in enumerate(windows):
        total, good = int(row[2 * index] or 0), int(row[2 * index + 1] or 0)
        counts[window] = (total - good, total)
    return counts


def alert_rows(engine: Engine) -> list[SloAlert]:
    with Session(engine) as session:
        return list(session.exec(select_rows(SloAlert)))


def set_alert(
    engine: Engine,
    route: str,
    slo: str,
    severity: str,
    firing: bool,
    long_burn: float,
    short_burn: float,
    now: datetime,
) -> bool:
    """Record the alert's state; True when it changed (began or stopped firing)."""
    with Session(engine) as session:
        row = session.get(SloAlert, (route, slo, severity))
        changed = (row.firing if row is not None else False) != firing
    values = {"firing": firing, "long_burn": long_burn, "short_burn": short_burn}
    statement = insert_for(engine.dialect.name)(SloAlert).values(
        route=route, slo=slo, severity=severity, changed_at=now, **values
    )
    updates = {key: getattr(statement.excluded, key) for key in values}
    if changed:
        updates["changed_at"] = statement.excluded.changed_at
    statement = statement.on_conflict_do_update(
        index_elements=["route", "slo", "severity"], set_=updates
    )
    with engine.begin() as connection:
        connection.execute(statement)
    return changed
