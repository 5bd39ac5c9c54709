"""The store on real SQLite and PostgreSQL: schema set-up, tenants and keys, routes, outcomes."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts.outcome import OutcomeRecord
from contracts.routing import RouteTarget
from store import create_store_engine, init_schema
from store.outcomes import outcomes_for_request, record_outcome
from store.routes import list_routes, live_targets, publish_route
from store.tables import ApiKey, Outcome, Route, RouteVariant, Tenant
from store.tenants import (
    add_api_key,
    authenticate,
    ensure_tenant,
    hash_api_key,
    revoke_api_key,
)

TABLES = {"routes", "route_variants", "tenants", "api_keys", "outcomes"}


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# --- schema ---


def test_init_schema_creates_every_table(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_init_schema_twice_is_harmless_and_keeps_data(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    init_schema(engine)
    init_schema(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert count(engine, "tenants") == 1


def test_init_schema_on_a_second_engine_over_an_existing_schema(store_url: str) -> None:
    first = create_store_engine(store_url)
    second = create_store_engine(store_url)
    try:
        init_schema(first)
        ensure_tenant(first, "acme")
        init_schema(second)
        assert count(second, "tenants") == 1
    finally:
        first.dispose()
        second.dispose()


def test_init_schema_concurrently(store_url: str) -> None:
    """Replicas starting together on an empty store: a lock serializes create_all."""
    workers = 8
    engines = [create_store_engine(store_url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            init_schema(engine)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "init_schema hung"
        assert errors == []
        assert set(inspect(engines[0]).get_table_names()) >= TABLES
    finally:
        for engine in engines:
            engine.dispose()


def test_sqlite_engine_is_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "store.db"  # parent directories are created
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        init_schema(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()
    # WAL is a property of the database file: a plain connection outside the engine sees it too.
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


# --- tenants and API keys ---


def test_new_key_authenticates_as_its_tenant(engine: Engine) -> None:
    ensure_tenant(engine, "acme", "Acme Corp")
    key = add_api_key(engine, "acme")
    assert key.startswith("il-") and len(key) > 40
    assert authenticate(engine, key) == "acme"


def test_given_key_is_registered_and_adding_it_again_is_idempotent(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    key = "il-given-" + "x" * 40
    assert add_api_key(engine, "acme", key) == key
    assert add_api_key(engine, "acme", key) == key
    assert count(engine, "api_keys") == 1
    assert authenticate(engine, key) == "acme"


def test_clear_key_is_stored_nowhere(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    key = add_api_key(engine, "acme")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_keys")).mappings().all()
        everything = [
            value
            for table in sorted(TABLES)
            for row in connection.execute(text(f"SELECT * FROM {table}")).all()
            for value in row
        ]
    assert len(rows) == 1
    row = rows[0]
    assert row["key_hash"] == hash_api_key(key)
    assert len(row["key_hash"]) == 64 and row["key_hash"] != key
    assert row["prefix"] == key[:8]
    assert not any(key in str(value) for value in everything)
    # Nor any long piece of its secret part.
    secret = key[len("il-") :]
    assert not any(secret[:16] in str(value) for value in everything)


def test_unknown_key_is_rejected(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    key = add_api_key(engine, "acme")
    assert authenticate(engine, "il-" + "0" * 43) is None
    assert authenticate(engine, "") is None
    assert authenticate(engine, key[:-1]) is None


def test_revoked_key_is_rejected_and_other_keys_still_work(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    revoked = add_api_key(engine, "acme")
    kept = add_api_key(engine, "acme")
    assert revoke_api_key(engine, revoked) is True
    assert revoke_api_key(engine, revoked) is False
    assert revoke_api_key(engine, "il-never-issued") is False
    assert authenticate(engine, revoked) is None
    assert authenticate(engine, kept) == "acme"
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(revoked))).one()
        assert row.revoked_at is not None


def test_disabled_tenant_keys_are_rejected(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    ensure_tenant(engine, "globex")
    acme_key = add_api_key(engine, "acme")
    globex_key = add_api_key(engine, "globex")
    with Session(engine) as session:
        tenant = session.get(Tenant, "acme")
        assert tenant is not None
        tenant.disabled = True
        session.add(tenant)
        session.commit()
    assert authenticate(engine, acme_key) is None
    assert authenticate(engine, globex_key) == "globex"


def test_same_key_for_another_tenant_is_refused(engine: Engine) -> None:
    ensure_tenant(engine, "acme")
    ensure_tenant(engine, "globex")
    key = add_api_key(engine, "acme")
    with pytest.raises(ValueError, match="another tenant"):
        add_api_key(engine, "globex", key)
    assert authenticate(engine, key) == "acme"
    assert count(engine, "api_keys") == 1


def test_ensure_tenant_is_idempotent(engine: Engine) -> None:
    first = ensure_tenant(engine, "acme", "Acme Corp")
    second = ensure_tenant(engine, "acme", "Other Name")
    assert first.name == second.name == "Acme Corp"
    assert ensure_tenant(engine, "initech").name == "initech"
    assert count(engine, "tenants") == 2


# --- routes ---


def targets_v1() -> list[RouteTarget]:
    return [
        RouteTarget(
            variant="zeta",
            provider="simulated",
            model="sim-fast",
            weight=0.9,
            options={"error_rate": 0.2, "tags": ["a", "b"], "nested": {"x": 1, "y": None}},
        ),
        RouteTarget(variant="alpha", provider="simulated", model="sim-smart", weight=0.1),
    ]


def test_first_publish_is_version_one(engine: Engine) -> None:
    assert live_targets(engine, "chat") is None
    assert publish_route(engine, "chat", targets_v1(), description="main chat") == 1
    assert live_targets(engine, "chat") == (1, targets_v1())
    [route] = list_routes(engine)
    assert (route.name, route.active_version, route.description) == ("chat", 1, "main chat")
    assert count(engine, "route_variants") == 2


def test_republishing_identical_targets_writes_nothing(engine: Engine) -> None:
    publish_route(engine, "chat", targets_v1())
    with Session(engine) as session:
        updated_before = session.get(Route, "chat").updated_at  # type: ignore[union-attr]
    assert publish_route(engine, "chat", targets_v1()) == 1
    assert publish_route(engine, "chat", targets_v1()) == 1
    assert count(engine, "route_variants") == 2
    assert count(engine, "routes") == 1
    with Session(engine) as session:
        route = session.get(Route, "chat")
        assert route is not None
        assert route.active_version == 1
        assert route.updated_at == updated_before


def test_a_change_makes_version_two_and_keeps_version_one(engine: Engine) -> None:
    publish_route(engine, "chat", targets_v1())
    changed = targets_v1()
    changed[1] = changed[1].model_copy(update={"weight": 0.5})
    assert publish_route(engine, "chat", changed, description="rebalanced") == 2
    assert live_targets(engine, "chat") == (2, changed)
    with Session(engine) as session:
        v1 = session.exec(
            select(RouteVariant)
            .where(RouteVariant.route_name == "chat", RouteVariant.version == 1)
            .order_by(RouteVariant.position)  # type: ignore[arg-type]
        )
        assert [(r.variant, r.weight) for r in v1] == [("zeta", 0.9), ("alpha", 0.1)]
        route = session.get(Route, "chat")
        assert route is not None
        assert (route.active_version, route.description) == (2, "rebalanced")
    assert count(engine, "route_variants") == 4
    # Going back to the old targets is a new version too: history is append-only.
    assert publish_route(engine, "chat", targets_v1()) == 3
    assert live_targets(engine, "chat") == (3, targets_v1())
    assert count(engine, "route_variants") == 6


def test_an_options_change_alone_is_a_new_version(engine: Engine) -> None:
    publish_route(engine, "chat", targets_v1())
    changed = targets_v1()
    changed[0] = changed[0].model_copy(update={"options": {"error_rate": 0.3}})
    assert publish_route(engine, "chat", changed) == 2


def test_live_targets_come_back_in_position_order_with_options(engine: Engine) -> None:
    targets = [
        RouteTarget(variant=name, provider="simulated", model="sim-fast", weight=w)
        for name, w in [("m", 1.0), ("c", 0.0), ("x", 2.5), ("a", 1.0)]
    ]
    targets[2] = targets[2].model_copy(
        update={"options": {"latency_median_ms": 50, "flags": [True, False], "n": {"k": "v"}}}
    )
    publish_route(engine, "ordered", targets)
    found = live_targets(engine, "ordered")
    assert found is not None
    version, got = found
    assert version == 1
    assert [t.variant for t in got] == ["m", "c", "x", "a"]
    assert [t.weight for t in got] == [1.0, 0.0, 2.5, 1.0]
    assert got[2].options == {"latency_median_ms": 50, "flags": [True, False], "n": {"k": "v"}}
    assert isinstance(got[2].options, dict) and isinstance(got[2].options["n"], dict)
    assert got[0].options == {}
    with engine.connect() as connection:
        positions = connection.execute(
            text("SELECT variant, position FROM route_variants ORDER BY position")
        ).all()
    assert [tuple(p) for p in positions] == [("m", 0), ("c", 1), ("x", 2), ("a", 3)]


def test_routes_are_independent(engine: Engine) -> None:
    publish_route(engine, "chat", targets_v1())
    other = [RouteTarget(variant="only", provider="simulated", model="sim-flaky")]
    assert publish_route(engine, "summarize", other) == 1
    assert live_targets(engine, "summarize") == (1, other)
    assert live_targets(engine, "chat") == (1, targets_v1())
    assert [r.name for r in list_routes(engine)] == ["chat", "summarize"]


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "at least one variant"),
        (
            [
                RouteTarget(variant="a", provider="simulated", model="sim-fast"),
                RouteTarget(variant="a", provider="simulated", model="sim-smart"),
            ],
            "unique",
        ),
        (
            [
                RouteTarget(variant="a", provider="simulated", model="sim-fast", weight=0),
                RouteTarget(variant="b", provider="simulated", model="sim-smart", weight=0),
            ],
            "positive weight",
        ),
    ],
    ids=["no-targets", "duplicate-variants", "all-weights-zero"],
)
def test_publish_rejects_invalid_targets(
    engine: Engine, targets: list[RouteTarget], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        publish_route(engine, "chat", targets)
    assert live_targets(engine, "chat") is None
    assert count(engine, "route_variants") == 0
    # A rejected change to an existing route leaves the live version alone.
    publish_route(engine, "chat", targets_v1())
    with pytest.raises(ValueError, match=message):
        publish_route(engine, "chat", targets)
    assert live_targets(engine, "chat") == (1, targets_v1())
    assert count(engine, "route_variants") == 2


# --- outcomes ---


def outcome(request_id: str = "req-1", arm: str = "primary", **changes: object) -> OutcomeRecord:
    started = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields: dict[str, object] = {
        "request_id": request_id,
        "arm": arm,
        "tenant_id": "acme",
        "route": "chat",
        "variant": "baseline",
        "provider": "simulated",
        "model": "sim-fast",
        "status": "ok",
        "latency_ms": 123.5,
        "tokens_in": 10,
        "tokens_out": 20,
        "cost_usd": 0.0001,
        "quality_score": 0.8,
        "started_at": started,
        "finished_at": started + timedelta(milliseconds=124),
    }
    fields.update(changes)
    return OutcomeRecord.model_validate(fields)


def test_record_outcome_writes_once(engine: Engine) -> None:
    assert record_outcome(engine, outcome()) is True
    assert record_outcome(engine, outcome()) is False
    # A retried write with different content still does not add or overwrite.
    assert record_outcome(engine, outcome(status="error", error_class="Boom")) is False
    rows = outcomes_for_request(engine, "req-1")
    assert len(rows) == 1
    row = rows[0]
    assert (row.arm, row.status, row.error_class) == ("primary", "ok", None)
    assert (row.tokens_in, row.tokens_out, row.latency_ms) == (10, 20, 123.5)
    assert row.quality_score == pytest.approx(0.8)
    assert count(engine, "outcomes") == 1


def test_shadow_arm_is_a_second_row(engine: Engine) -> None:
    assert record_outcome(engine, outcome()) is True
    assert record_outcome(engine, outcome(arm="shadow", variant="candidate")) is True
    assert record_outcome(engine, outcome(arm="shadow", variant="candidate")) is False
    rows = outcomes_for_request(engine, "req-1")
    assert sorted((r.arm, r.variant) for r in rows) == [
        ("primary", "baseline"),
        ("shadow", "candidate"),
    ]
    assert count(engine, "outcomes") == 2


def test_outcomes_are_kept_per_request(engine: Engine) -> None:
    assert record_outcome(engine, outcome("req-1")) is True
    assert record_outcome(engine, outcome("req-2")) is True
    assert [r.request_id for r in outcomes_for_request(engine, "req-2")] == ["req-2"]
    assert outcomes_for_request(engine, "req-unknown") == []
    with Session(engine) as session:
        assert len(session.exec(select(Outcome)).all()) == 2
