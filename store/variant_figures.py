"""Recent latency and quality per provider and model, from the outcome rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.breakers import Key
from store.tables import Outcome

_outcomes = Outcome.__table__  # type: ignore[attr-defined]


def recent_figures(engine: Engine, since: datetime) -> dict[Key, tuple[float | None, float | None]]:
    """(mean latency in ms, mean quality score) of the answers since `since`, per provider and
    model. Cache hits are left out: they say nothing of the provider."""
    query = (
        select(
            _outcomes.c.provider,
            _outcomes.c.model,
            func.avg(_outcomes.c.latency_ms).label("latency"),
            func.avg(_outcomes.c.quality_score).label("quality"),
        )
        .where(
            _outcomes.c.finished_at >= since,
            _outcomes.c.status == "ok",
            _outcomes.c.cache_hit.is_(False),
            _outcomes.c.provider.is_not(None),
        )
        .group_by(_outcomes.c.provider, _outcomes.c.model)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        (r.provider, r.model): (
            None if r.latency is None else float(r.latency),
            None if r.quality is None else float(r.quality),
        )
        for r in rows
    }
