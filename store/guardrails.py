"""Route guardrail policies."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from contracts.guardrails import GuardrailPolicy
from store.tables import Route, RouteGuardrails, utcnow


def set_route_policy(engine: Engine, route: str, policy: GuardrailPolicy) -> None:
    with Session(engine) as session:
        if session.get(Route, route) is None:
            raise ValueError(f"no route named {route!r}")
        row = session.get(RouteGuardrails, route) or RouteGuardrails(route_name=route)
        row.policy = policy.model_dump(mode="json")
        row.updated_at = utcnow()
        session.add(row)
        session.commit()


def route_policy(engine: Engine, route: str) -> GuardrailPolicy | None:
    with Session(engine) as session:
        row = session.get(RouteGuardrails, route)
        return None if row is None else GuardrailPolicy.model_validate(row.policy)
