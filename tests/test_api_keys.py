"""API keys: what is kept of them and how a presented one is checked, their scopes through the
gateway, migration 0016, and `interlock keys create|list|revoke`, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi import Depends, FastAPI
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from gateway.auth import ApiKeys, admin_tenant, authenticated_tenant
from gateway.errors import install_error_handlers
from store import create_store_engine, init_schema
from store.rate_limits import DatabaseBuckets, RateLimit
from store.schema import alembic_config
from store.short_lived import ShortLived
from store.tables import ApiKey
from store.tenants import (
    add_api_key,
    authenticate,
    ensure_tenant,
    grant_for_digest,
    hash_api_key,
    list_api_keys,
)

REPOSITORY = Path(__file__).resolve().parent.parent
OLD_KEY = "il-before-0016-" + "o" * 30
_keys = ApiKey.__table__  # type: ignore[attr-defined]


# --- what is kept, and how a presented key is checked ---


def test_a_new_key_can_make_inference_calls_only_unless_given_more(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    plain = add_api_key(engine, "acme")
    both = add_api_key(engine, "acme", scopes=["admin", "inference"])
    limited = add_api_key(engine, "acme", rate_limit=RateLimit(2.5, 10))
    grants = [grant_for_digest(engine, hash_api_key(k)) for k in (plain, both, limited)]
    assert [g.scopes if g else None for g in grants] == [
        {"inference"},
        {"inference", "admin"},
        {"inference"},
    ]
    assert [g.rate_limit if g else None for g in grants] == [None, None, RateLimit(2.5, 10)]
    with pytest.raises(ValueError, match="unknown scope 'root'"):
        add_api_key(engine, "acme", scopes=["root"])
    with pytest.raises(ValueError, match="at least one scope"):
        add_api_key(engine, "acme", scopes=[])


def test_only_the_digest_of_a_presented_key_reaches_the_store(engine: Engine) -> None:
    """The key is hashed before anything looks at it; the store compares digests by its index."""
    ensure_tenant(engine, "acme")
    key = add_api_key(engine, "acme")
    near_miss = key[:-1] + ("A" if key[-1] != "A" else "B")
    sent: list[str] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        sent.append(f"{statement} {parameters!r}")

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert authenticate(engine, key) == "acme"
        assert authenticate(engine, near_miss) is None
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    everything = "\n".join(sent)
    assert hash_api_key(key) in everything and hash_api_key(near_miss) in everything
    assert key not in everything and near_miss not in everything


def test_a_stored_digest_is_not_a_key(engine: Engine) -> None:
    """What a timing oracle on the digest lookup could at best reveal opens nothing."""
    ensure_tenant(engine, "acme")
    key = add_api_key(engine, "acme")
    assert authenticate(engine, hash_api_key(key)) is None
    assert authenticate(engine, key) == "acme"


KEY_MATERIAL = {"key", "digest", "key_hash", "credentials", "api_key", "presented"}


def _names_key_material(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return name in KEY_MATERIAL


def _is_sql_column(node: ast.expr) -> bool:
    """`ApiKey.key_hash` or `table.c.key_hash`: a comparison that builds SQL, run by the store."""
    if not isinstance(node, ast.Attribute):
        return False
    root = node.value
    return (isinstance(root, ast.Name) and root.id == "ApiKey") or (
        isinstance(root, ast.Attribute) and root.attr == "c"
    )


@pytest.mark.parametrize(
    "module", ["gateway/auth.py", "store/tenants.py", "store/rate_limits.py", "cli/keys.py"]
)
def test_no_python_comparison_of_key_material(module: str) -> None:
    """Keys and digests are compared by the store's index only, never with == in Python, whose
    early exit would time how much of a secret matched (see store/tenants.py)."""
    tree = ast.parse((REPOSITORY / module).read_text(), module)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(_is_sql_column(o) for o in operands):
            continue
        if any(_names_key_material(o) for o in operands):
            found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_the_guard_notices_a_python_comparison() -> None:
    tree = ast.parse("ok = presented == stored.key_hash")
    [compare] = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert _names_key_material(compare.left) and not _is_sql_column(compare.comparators[0])


def test_listing_shows_neither_the_key_nor_its_digest(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    key = add_api_key(engine, "acme", scopes=["admin"], rate_limit=RateLimit(1, 2))
    [info] = list_api_keys(engine, "acme")
    shown = repr(info)
    assert key not in shown and hash_api_key(key) not in shown
    assert info.prefix == key[:8] and info.scopes == ("admin",)
    assert repr(grant_for_digest(engine, hash_api_key(key))).count(hash_api_key(key)) == 0


# --- scopes through the gateway ---


async def test_scopes_are_enforced_on_the_inference_endpoints(stack) -> None:
    tenant = "scoped-admin-only"
    ensure_tenant(stack.engine, tenant)
    admin_only = add_api_key(stack.engine, tenant, scopes=["admin"])
    inference = add_api_key(stack.engine, tenant)
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        for method, path, payload in (
            ("POST", "/v1/chat/completions", body),
            ("GET", "/v1/models", None),
            ("POST", "/v1/feedback", {"request_id": "chatcmpl-x", "thumbs": "up"}),
        ):
            refused = await http.request(
                method, path, json=payload, headers={"Authorization": f"Bearer {admin_only}"}
            )
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json() == {
                "error": {
                    "message": "this API key lacks the 'inference' scope this endpoint needs "
                    "(it has: admin)",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "insufficient_scope",
                }
            }
        allowed = await http.get("/v1/models", headers={"Authorization": f"Bearer {inference}"})
        assert allowed.status_code == 200


@pytest.fixture
async def admin_endpoint(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one endpoint behind the admin scope and one behind inference: the gateway
    serves no admin endpoint yet, and this is how one is declared."""
    app = FastAPI()
    install_error_handlers(app)
    keys = ApiKeys(engine, DatabaseBuckets(engine))
    # Kept for the test's length, not a second: what a request costs, not the clock, is tested.
    keys.known = ShortLived(ttl=3600)
    app.state.api_keys = keys

    @app.get("/admin-only")
    async def admin_only(tenant: str = Depends(admin_tenant)) -> dict[str, str]:
        return {"tenant": tenant}

    @app.get("/inference-only")
    async def inference_only(tenant: str = Depends(authenticated_tenant)) -> dict[str, str]:
        return {"tenant": tenant}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


async def test_an_admin_endpoint_takes_admin_keys_only(
    engine: Engine, admin_endpoint: httpx.AsyncClient
) -> None:
    ensure_tenant(engine, "acme")
    inference = add_api_key(engine, "acme")
    admin = add_api_key(engine, "acme", scopes=["admin"])
    both = add_api_key(engine, "acme", scopes=["inference", "admin"])

    async def status(path: str, key: str) -> int:
        answer = await admin_endpoint.get(path, headers={"Authorization": f"Bearer {key}"})
        return answer.status_code

    assert [await status("/admin-only", k) for k in (inference, admin, both)] == [403, 200, 200]
    assert [await status("/inference-only", k) for k in (inference, admin, both)] == [
        200,
        403,
        200,
    ]
    refused = await admin_endpoint.get("/admin-only", headers={"x-api-key": inference})
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert "'admin' scope" in refused.json()["error"]["message"]


async def test_an_unlimited_key_costs_no_statement_per_request_a_limited_one_an_update(
    engine: Engine, admin_endpoint: httpx.AsyncClient
) -> None:
    """Keys without a rate limit add nothing per request: what a key allows is read once and
    kept (a second in the gateway); a limited key adds one UPDATE per request."""
    ensure_tenant(engine, "acme")
    unlimited = add_api_key(engine, "acme")
    limited = add_api_key(engine, "acme", rate_limit=RateLimit(1000, 1000))
    statements: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            answer = await admin_endpoint.get(
                "/inference-only", headers={"Authorization": f"Bearer {unlimited}"}
            )
            assert answer.status_code == 200
        unlimited_statements = list(statements)
        statements.clear()
        for _ in range(20):
            answer = await admin_endpoint.get(
                "/inference-only", headers={"Authorization": f"Bearer {limited}"}
            )
            assert answer.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert unlimited_statements == ["SELECT"]
    assert statements == ["SELECT"] + ["UPDATE"] * 20


# --- migration 0016 ---


@pytest.fixture
def bare_engine(store_url: str) -> Iterator[Engine]:
    """An engine on an empty database: no schema yet."""
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


def test_keys_made_before_0016_keep_inference_only_and_no_limit(bare_engine: Engine) -> None:
    with bare_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0015")
        connection.execute(
            text(
                "INSERT INTO tenants (id, name, disabled, created_at) "
                "VALUES ('acme', 'Acme', :no, CURRENT_TIMESTAMP)"
            ),
            {"no": False},
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (tenant_id, key_hash, prefix, created_at) "
                "VALUES ('acme', :digest, 'il-befor', CURRENT_TIMESTAMP)"
            ),
            {"digest": hash_api_key(OLD_KEY)},
        )
    init_schema(bare_engine)
    grant = grant_for_digest(bare_engine, hash_api_key(OLD_KEY))
    assert grant is not None and grant.scopes == {"inference"} and grant.rate_limit is None
    # And back: 0015's table with the key in it, which still works after upgrading again.
    with bare_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0015")
    with bare_engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM api_keys")).scalar() == 1
    init_schema(bare_engine)
    assert authenticate(bare_engine, OLD_KEY) == "acme"
    with bare_engine.connect() as connection:
        assert connection.execute(select(_keys.c.scopes)).scalars().all() == ["inference"]


# --- interlock keys ---


def test_create_list_and_revoke_keys(interlock, engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    made = interlock("keys", "create", "acme", "--scope", "inference", "--scope", "admin")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("il-") and len(key) > 40
    assert "shown only this once" in made.stderr and key not in made.stderr
    limited = interlock("keys", "create", "acme", "--rate-limit", "2.5", "--burst", "5")
    assert limited.exit_code == 0, limited.output
    assert "rate limit 2.5/s, burst 5" in limited.stderr
    paced = interlock("keys", "create", "acme", "--rate-limit", "2.5")
    assert "burst 3" in paced.stderr  # one second's worth, rounded up

    listed = interlock("keys", "list", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["scopes"], r["rate_limit_per_second"], r["burst"]) for r in rows] == [
        (["inference", "admin"], None, None),
        (["inference"], 2.5, 5),
        (["inference"], 2.5, 3),
    ]
    assert rows[0]["prefix"] == key[:8] and rows[0]["tenant"] == "acme"
    assert rows[0]["revoked_at"] is None and rows[0]["created_at"].endswith("+00:00")
    keys_made = [key, limited.stdout.strip(), paced.stdout.strip()]
    table = interlock("keys", "list")
    assert table.exit_code == 0 and key[:8] in table.stdout
    for shown in (listed.stdout, table.stdout):
        assert not any(k in shown or hash_api_key(k) in shown for k in keys_made)

    revoked = interlock("keys", "revoke", key)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked key {key[:8]} of tenant 'acme'" in revoked.stdout
    assert "within a second" in revoked.stdout
    assert authenticate(engine, key) is None
    again = interlock("keys", "revoke", key[:8])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    by_prefix = interlock("keys", "revoke", keys_made[1][:8])
    assert by_prefix.exit_code == 0, by_prefix.output
    assert authenticate(engine, keys_made[1]) is None
    assert authenticate(engine, keys_made[2]) == "acme"
    assert json.loads(interlock("keys", "list", "--json").stdout)[0]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("keys", "create", "nobody"), 1, "no tenant named 'nobody'"),
        (("keys", "list", "nobody"), 1, "no tenant named 'nobody'"),
        (("keys", "revoke", "il-never-issued-" + "x" * 30), 1, "no key is"),
        (("keys", "revoke", "il-abcde"), 1, "no key is"),
        (("keys", "create", "acme", "--scope", "root"), 2, "root"),
        (("keys", "create", "acme", "--burst", "3"), 2, "--burst needs --rate-limit"),
        (("keys", "create", "acme", "--rate-limit", "0"), 2, "rate-limit"),
    ],
)
def test_clear_errors(interlock, engine: Engine, args, code: int, message: str) -> None:
    ensure_tenant(engine, "acme")
    result = interlock(*args)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_a_prefix_shared_by_live_keys_is_refused(interlock, engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    first = add_api_key(engine, "acme", key="il-same1-first-" + "a" * 30)
    second = add_api_key(engine, "acme", key="il-same1-second-" + "b" * 30)
    result = interlock("keys", "revoke", "il-same1")
    assert result.exit_code == 1
    assert "2 keys start with 'il-same1'" in result.output and "give the whole key" in result.output
    assert authenticate(engine, first) == authenticate(engine, second) == "acme"


def test_tenants_create_still_prints_an_inference_key(store_url: str, tmp_path: Path) -> None:
    """`tenants create` leaves through a hard process exit, so it runs as a process here."""
    env = {**os.environ, "INTERLOCK_DATABASE_URL": store_url, "INTERLOCK_HOME": str(tmp_path)}
    made = subprocess.run(
        [sys.executable, "-m", "cli", "tenants", "create", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = made.stdout.strip()
    engine = create_store_engine(store_url)
    try:
        grant = grant_for_digest(engine, hash_api_key(key))
        assert grant is not None and grant.tenant_id == "acme"
        assert grant.scopes == {"inference"} and grant.rate_limit is None
    finally:
        engine.dispose()
