"""Outcome rows: written once per request arm, read back for statistics."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts.outcome import OutcomeRecord
from experiments.statistics import bucket_index
from store.engine import insert_for
from store.tables import Outcome


def _insert_once(dialect: str):
    """INSERT ... ON CONFLICT (request_id, arm) DO NOTHING RETURNING id, built once per dialect:
    rows are bound as parameters, so SQLAlchemy compiles it once and reuses it for every row."""
    insert = insert_for(dialect)
    return (
        insert(Outcome)
        .on_conflict_do_nothing(index_elements=["request_id", "arm"])
        # A returned id means this call inserted. rowcount is not usable: on PostgreSQL
        # SQLAlchemy adds an implicit RETURNING for the key and then reports rowcount -1.
        .returning(Outcome.id)
    )


_INSERT_ONCE = {dialect: _insert_once(dialect) for dialect in ("postgresql", "sqlite")}


def record_outcomes(engine: Engine, records: list[OutcomeRecord]) -> list[bool]:
    """Insert each row unless its (request_id, arm) already has one, all in one transaction;
    for each, True if this call wrote it.

    Activities are retried, so the write must be idempotent: the unique key plus
    ON CONFLICT DO NOTHING makes a repeated write a no-op on both SQLite and PostgreSQL.
    """
    statement = _INSERT_ONCE[engine.dialect.name]
    with engine.begin() as connection:
        return [
            connection.execute(statement, _row(record)).first() is not None for record in records
        ]


def _row(record: OutcomeRecord) -> dict:
    """The record's columns plus its latency bucket, so rollout statistics can group by it."""
    return {**record.model_dump(), "latency_bucket": bucket_index(record.latency_ms)}


def record_outcome(engine: Engine, record: OutcomeRecord) -> bool:
    """record_outcomes for one row."""
    [inserted] = record_outcomes(engine, [record])
    return inserted


def outcomes_for_request(engine: Engine, request_id: str) -> list[Outcome]:
    with Session(engine) as session:
        return list(session.exec(select(Outcome).where(Outcome.request_id == request_id)))
