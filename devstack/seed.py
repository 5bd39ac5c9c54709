"""The demo configuration `interlock dev` writes: a tenant, its key, the routes in routes.yaml."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine

from store.route_files import load_route_file
from store.routes import PublishResult, publish_routes
from store.tenants import add_api_key, ensure_tenant, generate_api_key

DEMO_TENANT = "demo"
DEMO_ROUTES_FILE = Path(__file__).with_name("routes.yaml")


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


def seed_demo(engine: Engine, api_key: str) -> list[PublishResult]:
    """Idempotent: running it at every start changes nothing after the first (or after an edit
    of the routes file, which becomes a new version)."""
    ensure_tenant(engine, DEMO_TENANT, "Demo tenant")
    add_api_key(engine, DEMO_TENANT, api_key)
    return publish_routes(engine, load_route_file(DEMO_ROUTES_FILE))
