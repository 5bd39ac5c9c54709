"""What a rollout read at each look and what it decided: written by activities, so every write
is idempotent (a retried activity overwrites its look, and records its decision once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.engine import insert_for
from store.tables import RolloutDecision, RolloutLook, utcnow


def save_look(
    engine: Engine, rollout_id: str, step: int, look: int, statistics: dict[str, Any]
) -> None:
    """Store the statistics of one look, replacing what a previous attempt of it stored: a
    retried look reads newer totals, and the judge must replay what the decision was made on."""
    statement = insert_for(engine.dialect.name)(RolloutLook).values(
        rollout_id=rollout_id, step=step, look=look, statistics=statistics, recorded_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=["rollout_id", "step", "look"],
        set_={
            "statistics": statement.excluded.statistics,
            "recorded_at": statement.excluded.recorded_at,
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)


def looks_of_step(engine: Engine, rollout_id: str, step: int) -> list[dict[str, Any]]:
    """The statistics of every look of one step, in look order."""
    with Session(engine) as session:
        query = (
            select(RolloutLook.statistics)
            .where(RolloutLook.rollout_id == rollout_id, RolloutLook.step == step)
            .order_by(RolloutLook.look)  # type: ignore[arg-type]
        )
        return list(session.exec(query))


def steps_with_looks(engine: Engine, rollout_id: str) -> list[int]:
    """The steps that have at least one look, in order."""
    with Session(engine) as session:
        query = (
            select(RolloutLook.step)
            .where(RolloutLook.rollout_id == rollout_id)
            .distinct()
            .order_by(RolloutLook.step)  # type: ignore[arg-type]
        )
        return list(session.exec(query))


def record_decision(
    engine: Engine,
    rollout_id: str,
    route: str,
    step: int,
    look: int,
    stage: str,
    outcome: str,
    action: str,
    reason: str,
    evidence: dict[str, Any],
    decided_at: datetime | None = None,
) -> bool:
    """Record a decision unless (rollout_id, step, look, action) already has one; True if this
    call wrote it. The first attempt's record stands: it is what the rollout acted on."""
    statement = (
        insert_for(engine.dialect.name)(RolloutDecision)
        .values(
            rollout_id=rollout_id,
            route=route,
            step=step,
            look=look,
            stage=stage,
            outcome=outcome,
            action=action,
            reason=reason,
            evidence=evidence,
            decided_at=decided_at or utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["rollout_id", "step", "look", "action"])
        # A returned id means this call inserted (rowcount is -1 on PostgreSQL; see outcomes.py).
        .returning(RolloutDecision.id)  # type: ignore[arg-type]
    )
    with engine.begin() as connection:
        return connection.execute(statement).first() is not None


def decisions_of(engine: Engine, rollout_id: str) -> list[RolloutDecision]:
    """A rollout's decisions in the order they were taken (recording order breaks ties)."""
    with Session(engine) as session:
        query = (
            select(RolloutDecision)
            .where(RolloutDecision.rollout_id == rollout_id)
            .order_by(RolloutDecision.decided_at, RolloutDecision.id)  # type: ignore[arg-type]
        )
        return list(session.exec(query))
