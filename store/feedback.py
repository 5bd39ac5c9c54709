"""People's ratings of answers (POST /v1/feedback), one per request: a later rating replaces an
earlier one. A tenant can only rate its own requests."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.engine import insert_for
from store.tables import Feedback, Outcome, utcnow


def rate(engine: Engine, tenant_id: str, request_id: str, value: float, kind: str) -> bool:
    """Keep the rating; False (and nothing kept) when the tenant has no such request."""
    with Session(engine) as session:
        rows = session.exec(
            select(Outcome.status, Outcome.experiment, Outcome.experiment_arm).where(
                Outcome.request_id == request_id, Outcome.tenant_id == tenant_id
            )
        ).all()
    if not rows:
        return False
    # The experiment and arm are the request's, on every one of its rows; any row says them.
    _, experiment, arm = rows[0]
    now = utcnow()
    statement = insert_for(engine.dialect.name)(Feedback).values(
        request_id=request_id,
        tenant_id=tenant_id,
        value=value,
        kind=kind,
        experiment=experiment,
        experiment_arm=arm,
        created_at=now,
        updated_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["request_id"],
        set_={
            "value": statement.excluded.value,
            "kind": statement.excluded.kind,
            "updated_at": statement.excluded.updated_at,
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)
    return True


def rating_of(engine: Engine, request_id: str) -> Feedback | None:
    with Session(engine) as session:
        return session.get(Feedback, request_id)
