"""Outcome rows: written once per request arm, read back for statistics."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts.outcome import OutcomeRecord
from store.tables import Outcome


def record_outcome(engine: Engine, record: OutcomeRecord) -> bool:
    """Insert the row unless (request_id, arm) already has one; True if this call wrote it.

    Activities are retried, so the write must be idempotent: the unique key plus
    ON CONFLICT DO NOTHING makes a repeated write a no-op on both SQLite and PostgreSQL.
    """
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Outcome)
        .values(**record.model_dump())
        .on_conflict_do_nothing(index_elements=["request_id", "arm"])
        # A returned id means this call inserted. rowcount is not usable: on PostgreSQL
        # SQLAlchemy adds an implicit RETURNING for the key and then reports rowcount -1.
        .returning(Outcome.id)
    )
    with engine.begin() as connection:
        inserted = connection.execute(statement).first()
    return inserted is not None


def outcomes_for_request(engine: Engine, request_id: str) -> list[Outcome]:
    with Session(engine) as session:
        return list(session.exec(select(Outcome).where(Outcome.request_id == request_id)))
