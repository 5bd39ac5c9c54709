"""The demo configuration `interlock dev` writes: a tenant, its key, a simulated route."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine

from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from contracts.routing import RouteTarget
from guardrails.registry import SECRET_ENTITY_TYPES
from store.guardrails import set_route_policy
from store.routes import publish_route
from store.tenants import add_api_key, ensure_tenant, generate_api_key

DEMO_TENANT = "demo"
DEMO_ROUTES: dict[str, list[RouteTarget]] = {
    "chat": [RouteTarget(variant="baseline", provider="simulated", model="sim-fast")],
}
PERSONAL_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE")
# The demo route shows each action: personal data is redacted on the way in and restored in the
# answer, secrets are refused, and obvious prompt injection is blocked.
DEMO_GUARDRAILS = GuardrailPolicy(
    input=DirectionPolicy(
        default_action="log",
        actions={
            **dict.fromkeys(PERSONAL_TYPES, "redact"),
            **dict.fromkeys(SECRET_ENTITY_TYPES, "block"),
        },
        injection_threshold=0.8,
    ),
    output=DirectionPolicy(
        default_action="log", actions=dict.fromkeys(SECRET_ENTITY_TYPES, "redact")
    ),
)


def demo_api_key(home: Path, configured: str | None) -> str:
    """The configured key, else the one generated on an earlier run, else a new one.

    Keeping a generated key in .interlock/ (mode 0600) means a developer's scripts keep working
    across restarts; the database itself only ever holds its digest.
    """
    if configured:
        return configured
    path = home / "demo-api-key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = generate_api_key()
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def seed_demo(engine: Engine, api_key: str) -> None:
    """Idempotent: running it at every start changes nothing after the first."""
    ensure_tenant(engine, DEMO_TENANT, "Demo tenant")
    add_api_key(engine, DEMO_TENANT, api_key)
    for name, targets in DEMO_ROUTES.items():
        publish_route(engine, name, targets, description="Demo route over the simulated provider")
        set_route_policy(engine, name, DEMO_GUARDRAILS)
