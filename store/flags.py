"""Feature flags in the store, each change audited in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from store.engine import insert_for
from store.tables import FeatureFlag, FlagChange

_flags = FeatureFlag.__table__  # type: ignore[attr-defined]
_changes = FlagChange.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Change:
    name: str
    enabled: bool
    changed_by: str
    reason: str
    changed_at: datetime


def set_flag(engine: Engine, name: str, enabled: bool, changed_by: str, reason: str = "") -> None:
    now = datetime.now(UTC)
    values = {"enabled": enabled, "updated_at": now, "updated_by": changed_by}
    with engine.begin() as connection:
        upsert = insert_for(connection.dialect.name)
        connection.execute(
            upsert(_flags)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        connection.execute(
            insert(_changes).values(
                name=name, enabled=enabled, changed_by=changed_by, reason=reason, changed_at=now
            )
        )


def stored_flags(engine: Engine) -> dict[str, bool]:
    with engine.connect() as connection:
        return {row.name: row.enabled for row in connection.execute(select(_flags))}


def flag_changes(engine: Engine, name: str | None = None, limit: int = 50) -> list[Change]:
    """The newest changes first, of one flag or of all."""
    query = select(_changes).order_by(_changes.c.changed_at.desc(), _changes.c.id.desc())
    if name is not None:
        query = query.where(_changes.c.name == name)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit)).all()
    return [
        Change(
            r.name,
            r.enabled,
            r.changed_by,
            r.reason,
            r.changed_at if r.changed_at.tzinfo else r.changed_at.replace(tzinfo=UTC),
        )
        for r in rows
    ]
