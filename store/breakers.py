"""Circuit breakers in the store: each provider/model's state, changed only from the version a
gateway read (so two gateways never both apply one transition), and the recent calls they are
judged on, read from the outcome rows the request path writes anyway. The state is read here
when no Redis is configured (store/breaker_states.py); the calls, always."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.engine import Engine

from store.engine import insert_for
from store.tables import CircuitBreaker, Outcome

_breakers = CircuitBreaker.__table__  # type: ignore[attr-defined]
_outcomes = Outcome.__table__  # type: ignore[attr-defined]

# Errors that say the provider is failing; not a request's own fault (bad request, content
# policy, auth, unknown model) nor a client that left.
PROVIDER_FAILURES = (
    "ProviderUnavailable",
    "ProviderRateLimited",
    "ProviderMalformedResponse",
    "ProviderStreamInterrupted",
    "ProviderTimeout",
)

Key = tuple[str, str]
"""(provider, model)."""


@dataclass(frozen=True)
class Breaker:
    provider: str
    model: str
    state: str
    changed_at: datetime
    probes_left: int
    reason: str
    version: int

    @property
    def key(self) -> Key:
        return (self.provider, self.model)


@dataclass(frozen=True)
class Calls:
    calls: int
    failures: int

    @property
    def successes(self) -> int:
        return self.calls - self.failures


def breakers(engine: Engine) -> dict[Key, Breaker]:
    with engine.connect() as connection:
        rows = connection.execute(select(_breakers)).all()
    return {
        (row.provider, row.model): Breaker(
            row.provider,
            row.model,
            row.state,
            _aware(row.changed_at),
            row.probes_left,
            row.reason,
            row.version,
        )
        for row in rows
    }


def recent_calls(
    engine: Engine, since: datetime, keys: Iterable[Key] | None = None
) -> dict[Key, Calls]:
    """Provider calls that ended since `since`, per provider and model: those that answered and
    those that failed on the provider's side (other errors are not the provider's health)."""
    failed = (_outcomes.c.status == "error") & _outcomes.c.error_class.in_(PROVIDER_FAILURES)
    counted = (_outcomes.c.status == "ok") | failed
    query = (
        select(
            _outcomes.c.provider,
            _outcomes.c.model,
            func.count().label("calls"),
            func.sum(case((failed, 1), else_=0)).label("failures"),
        )
        .where(_outcomes.c.finished_at >= since, counted, _outcomes.c.provider.is_not(None))
        .group_by(_outcomes.c.provider, _outcomes.c.model)
    )
    if keys is not None:
        wanted = list(keys)
        if not wanted:
            return {}
        query = query.where(tuple_(_outcomes.c.provider, _outcomes.c.model).in_(wanted))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {(r.provider, r.model): Calls(int(r.calls), int(r.failures or 0)) for r in rows}


def change_breaker(
    engine: Engine,
    key: Key,
    read_version: int | None,
    state: str,
    probes: int = 0,
    reason: str = "",
    at: datetime | None = None,
) -> bool:
    """Move the breaker to `state` if it is still at `read_version` (None: it had no row, which
    is closed). Whether this call made the change."""
    at = at or datetime.now(UTC)
    values = {"state": state, "changed_at": at, "probes_left": probes, "reason": reason}
    provider, model = key
    with engine.begin() as connection:
        if read_version is None:
            insert = insert_for(connection.dialect.name)
            # RETURNING, not rowcount: PostgreSQL's driver does not count an upsert's insert.
            inserted = connection.execute(
                insert(_breakers)
                .values(provider=provider, model=model, version=1, **values)
                .on_conflict_do_nothing()
                .returning(_breakers.c.version)
            ).first()
            return inserted is not None
        made = connection.execute(
            update(_breakers)
            .where(
                _breakers.c.provider == provider,
                _breakers.c.model == model,
                _breakers.c.version == read_version,
            )
            .values(version=_breakers.c.version + 1, **values)
        )
        return made.rowcount == 1


def claim_probe(engine: Engine, key: Key) -> bool:
    """Take one of a half-open breaker's probes; False when none is left."""
    provider, model = key
    with engine.begin() as connection:
        took = connection.execute(
            update(_breakers)
            .where(
                _breakers.c.provider == provider,
                _breakers.c.model == model,
                _breakers.c.state == "half_open",
                _breakers.c.probes_left > 0,
            )
            .values(probes_left=_breakers.c.probes_left - 1)
        )
    return took.rowcount == 1


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was written in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
