"""Experiments in the store: created from a spec, read by every gateway at admission, evaluated
and changed by the scheduled evaluation, and their looks and decisions kept for the report.

Every write made by an activity is idempotent: a look is keyed by its evaluation run, a decision
is recorded once per evaluation, and a state change only applies to a running experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from contracts.experiment import ExperimentSpec
from store.engine import insert_for
from store.tables import Experiment, ExperimentDecision, ExperimentLook, utcnow


class ExperimentExists(ValueError):
    """An experiment of that name exists (names are never reused: its records keep it)."""


class ExperimentBusy(ValueError):
    """The route already has a running experiment."""


@dataclass(frozen=True)
class ExperimentState:
    spec: ExperimentSpec
    status: str
    weights: dict[str, float]
    winner: str | None
    ended_reason: str | None
    created_by: str
    started_at: datetime
    ended_at: datetime | None

    @property
    def name(self) -> str:
        return self.spec.name


def _state(row: Experiment) -> ExperimentState:
    return ExperimentState(
        spec=ExperimentSpec.model_validate(row.spec),
        status=row.status,
        weights=dict(row.weights),
        winner=row.winner,
        ended_reason=row.ended_reason,
        created_by=row.created_by,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def create_experiment(engine: Engine, spec: ExperimentSpec, created_by: str) -> ExperimentState:
    with Session(engine) as session:
        if session.get(Experiment, spec.name) is not None:
            raise ExperimentExists(f"an experiment named {spec.name!r} exists")
        running = session.exec(
            select(Experiment.name).where(
                Experiment.route == spec.route, Experiment.status == "running"
            )
        ).first()
        if running is not None:
            raise ExperimentBusy(
                f"route {spec.route!r} already has a running experiment, {running!r}: stop it first"
            )
        row = Experiment(
            name=spec.name,
            route=spec.route,
            spec=spec.model_dump(mode="json"),
            status="running",
            weights=spec.initial_weights(),
            created_by=created_by,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            raise ExperimentExists(f"an experiment named {spec.name!r} exists") from None
        session.refresh(row)
        return _state(row)


def experiment(engine: Engine, name: str) -> ExperimentState | None:
    with Session(engine) as session:
        row = session.get(Experiment, name)
        return None if row is None else _state(row)


def list_experiments(engine: Engine, status: str | None = None) -> list[ExperimentState]:
    with Session(engine) as session:
        query = select(Experiment).order_by(Experiment.started_at)  # type: ignore[arg-type]
        if status is not None:
            query = query.where(Experiment.status == status)
        return [_state(row) for row in session.exec(query)]


def running_on_route(engine: Engine, route: str) -> ExperimentState | None:
    """The route's running experiment, if it has one (at most one runs per route)."""
    with Session(engine) as session:
        row = session.exec(
            select(Experiment).where(Experiment.route == route, Experiment.status == "running")
        ).first()
        return None if row is None else _state(row)


def set_weights(engine: Engine, name: str, weights: dict[str, float]) -> bool:
    """New shares for a running experiment; False if it is no longer running."""
    return _change_running(engine, name, weights=weights)


def end_experiment(
    engine: Engine, name: str, status: str, reason: str, winner: str | None = None
) -> bool:
    """Stop or complete a running experiment; False if it had already ended."""
    return _change_running(
        engine, name, status=status, ended_reason=reason, winner=winner, ended_at=utcnow()
    )


def _change_running(engine: Engine, name: str, **values: Any) -> bool:
    statement = (
        update(Experiment)
        .where(Experiment.name == name, Experiment.status == "running")  # type: ignore[arg-type]
        .values(**values)
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def save_look(
    engine: Engine,
    name: str,
    evaluation: str,
    statistics: dict[str, Any],
    weights: dict[str, float],
) -> None:
    """Keep one evaluation's totals, replacing what an earlier attempt of it kept."""
    statement = insert_for(engine.dialect.name)(ExperimentLook).values(
        experiment=name,
        evaluation=evaluation,
        statistics=statistics,
        weights=weights,
        recorded_at=utcnow(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["experiment", "evaluation"],
        # recorded_at stays: it orders the looks, and a retry is still the same look.
        set_={"statistics": statement.excluded.statistics, "weights": statement.excluded.weights},
    )
    with engine.begin() as connection:
        connection.execute(statement)


@dataclass(frozen=True)
class Look:
    evaluation: str
    statistics: dict[str, Any]
    weights: dict[str, float]
    recorded_at: datetime


def looks_of(engine: Engine, name: str) -> list[Look]:
    """Every look of an experiment, oldest first."""
    with Session(engine) as session:
        query = (
            select(ExperimentLook)
            .where(ExperimentLook.experiment == name)
            .order_by(ExperimentLook.recorded_at, ExperimentLook.evaluation)  # type: ignore[arg-type]
        )
        return [
            Look(row.evaluation, row.statistics, dict(row.weights), row.recorded_at)
            for row in session.exec(query)
        ]


def record_decision(
    engine: Engine,
    name: str,
    evaluation: str,
    action: str,
    reason: str,
    evidence: dict[str, Any],
) -> bool:
    """Record what an evaluation decided; False if this evaluation's decision was recorded."""
    statement = (
        insert_for(engine.dialect.name)(ExperimentDecision)
        .values(
            experiment=name,
            evaluation=evaluation,
            action=action,
            reason=reason,
            evidence=evidence,
            decided_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["experiment", "evaluation"])
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def decisions_of(engine: Engine, name: str) -> list[ExperimentDecision]:
    with Session(engine) as session:
        query = (
            select(ExperimentDecision)
            .where(ExperimentDecision.experiment == name)
            .order_by(ExperimentDecision.id)  # type: ignore[arg-type]
        )
        return list(session.exec(query))
