"""Route guardrail policies: part of a route's versioned configuration (see store.routes)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from contracts.guardrails import GuardrailPolicy
from store.routes import live_config, set_guardrails


def set_route_policy(engine: Engine, route: str, policy: GuardrailPolicy) -> int:
    """Publish the route's live variants with `policy` as a new version; returns the version.

    Raises ValueError for an unknown route. Setting the live policy again writes nothing.
    """
    return set_guardrails(engine, route, policy)


def route_policy(engine: Engine, route: str) -> GuardrailPolicy | None:
    """The live version's policy, or None for an unknown route."""
    found = live_config(engine, route)
    return None if found is None else found[1].guardrails
