"""Schema migrations on real SQLite and PostgreSQL: from empty, from the pre-Alembic schema,
repeated, concurrent, and in agreement with the sqlmodel tables."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from contracts.outcome import OutcomeRecord
from contracts.routing import RouteTarget, ShadowTarget
from experiments.statistics import bucket_index
from store import create_store_engine, init_schema
from store.guardrails import set_route_policy
from store.outcomes import outcomes_for_request, record_outcome
from store.routes import RouteConfig, config_at, live_config, publish_route, publish_routes
from store.schema import (
    MIGRATIONS_DIRECTORY,
    alembic_config,
    create_revision,
    head_revision,
    schema_revision,
)
from store.tenants import authenticate, hash_api_key
from tests import legacy_schema as legacy

TABLES = {
    "routes",
    "route_versions",
    "route_variants",
    "tenants",
    "api_keys",
    "outcomes",
    "rollout_looks",
    "rollout_decisions",
    "budgets",
    "budget_usage",
    "budget_reservations",
    "circuit_breakers",
    "response_cache",
    "feature_flags",
    "flag_changes",
    "installation_secrets",
    "experiments",
    "experiment_looks",
    "experiment_decisions",
    "feedback",
    "judgements",
    "slo_alerts",
}
LEGACY_KEY = "il-legacy-" + "x" * 40
LEGACY_POLICY = GuardrailPolicy(
    input=DirectionPolicy(actions={"EMAIL_ADDRESS": "redact"}, injection_threshold=0.7)
)
WORKERS = 6
# The outcomes table as revision 0002 left it, to write a row before upgrading.
OUTCOMES_AT_0002 = legacy.Outcome.__table__  # type: ignore[attr-defined]


def differences(engine: Engine) -> list:
    """What Alembic's autogenerate would write to make the database match the tables."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def column_names(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def upgrades_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running upgrade")]


@pytest.fixture
def bare_engine(store_url: str):
    """An engine on an empty database: no init_schema yet."""
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


def make_legacy_database(engine: Engine, with_guardrails_table: bool = True) -> None:
    """The schema and rows as the code before migrations left them (create_all, no version)."""
    tables = [
        t
        for name, t in legacy.LegacyModel.metadata.tables.items()
        if with_guardrails_table or name != "route_guardrails"
    ]
    legacy.LegacyModel.metadata.create_all(engine, tables=tables)
    started = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    with Session(engine) as session:
        session.add(legacy.Route(name="chat", description="legacy chat", active_version=2))
        session.add(legacy.Tenant(id="acme", name="Acme"))
        session.flush()
        for version, weight in ((1, 1.0), (2, 3.0)):
            session.add(
                legacy.RouteVariant(
                    route_name="chat",
                    version=version,
                    variant="baseline",
                    position=0,
                    provider="simulated",
                    model="sim-fast",
                    weight=weight,
                    options={"echo": True},
                )
            )
        session.add(
            legacy.RouteVariant(
                route_name="chat",
                version=2,
                variant="candidate",
                position=1,
                provider="simulated",
                model="sim-smart",
                weight=1.0,
            )
        )
        session.add(
            legacy.ApiKey(tenant_id="acme", key_hash=hash_api_key(LEGACY_KEY), prefix="il-legac")
        )
        session.add(
            legacy.Outcome(
                request_id="req-legacy",
                tenant_id="acme",
                route="chat",
                variant="baseline",
                status="ok",
                started_at=started,
                finished_at=started + timedelta(milliseconds=40),
            )
        )
        if with_guardrails_table:
            session.add(
                legacy.RouteGuardrails(
                    route_name="chat", policy=LEGACY_POLICY.model_dump(mode="json")
                )
            )
        session.commit()


# --- from empty ---


def test_upgrade_from_an_empty_database(bare_engine: Engine) -> None:
    assert schema_revision(bare_engine) is None
    init_schema(bare_engine)
    assert schema_revision(bare_engine) == head_revision()
    assert table_names(bare_engine) == TABLES | {"alembic_version"}


def test_migrations_and_tables_agree(engine: Engine) -> None:
    """A table changed without a migration (or the reverse) fails here."""
    assert differences(engine) == []


def test_the_comparison_notices_a_missing_migration(engine: Engine) -> None:
    """The agreement check can fail: a column the migrations never made is reported."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE tenants ADD COLUMN stray INTEGER"))
    assert [d[0] for d in differences(engine)] == ["remove_column"]


def test_upgrade_twice_is_a_no_op(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    publish_route(engine, "chat", [RouteTarget(variant="a", provider="simulated", model="m")])
    before = (table_names(engine), schema_revision(engine), live_config(engine, "chat"))
    with caplog.at_level(logging.INFO, logger="alembic"):
        init_schema(engine)
        init_schema(engine)
    assert upgrades_logged(caplog) == []
    assert (table_names(engine), schema_revision(engine), live_config(engine, "chat")) == before


def test_downgrade_to_the_baseline_and_back_keeps_routes_and_policy(engine: Engine) -> None:
    publish_route(engine, "chat", [RouteTarget(variant="a", provider="simulated", model="m")])
    set_route_policy(engine, "chat", LEGACY_POLICY)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert "route_versions" not in table_names(engine)
    assert "route_guardrails" in table_names(engine)
    init_schema(engine)
    found = live_config(engine, "chat")
    assert found is not None
    assert found[0] == 2 and found[1].guardrails == LEGACY_POLICY
    assert differences(engine) == []


def test_upgrade_from_0002_adds_the_latency_bucket_and_the_rollout_tables_keeping_rows(
    bare_engine: Engine,
) -> None:
    with bare_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
    assert "latency_bucket" not in column_names(bare_engine, "outcomes")
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with bare_engine.begin() as connection:
        connection.execute(
            insert(OUTCOMES_AT_0002),
            {
                "request_id": "req-before",
                "arm": "primary",
                "tenant_id": "acme",
                "route": "chat",
                "variant": "baseline",
                "status": "ok",
                "latency_ms": 250.0,
                "tokens_in": 3,
                "tokens_out": 5,
                "cost_usd": 0.5,
                "cache_hit": False,
                "started_at": started,
                "finished_at": started + timedelta(seconds=1),
                "created_at": started,
            },
        )
    init_schema(bare_engine)
    assert schema_revision(bare_engine) == head_revision()
    assert "latency_bucket" in column_names(bare_engine, "outcomes")
    assert {"rollout_looks", "rollout_decisions"} <= table_names(bare_engine)
    assert differences(bare_engine) == []
    # The old row is kept as it was; its bucket stays NULL (it predates rollouts).
    [row] = outcomes_for_request(bare_engine, "req-before")
    assert (row.status, row.latency_ms, row.cost_usd, row.finished_at) == (
        "ok",
        250.0,
        0.5,
        started + timedelta(seconds=1),
    )
    assert row.latency_bucket is None
    # Rows written from now on carry their bucket.
    record_outcome(
        bare_engine,
        OutcomeRecord(
            request_id="req-after",
            tenant_id="acme",
            route="chat",
            status="ok",
            latency_ms=250.0,
            started_at=started,
            finished_at=started,
        ),
    )
    [after] = outcomes_for_request(bare_engine, "req-after")
    assert after.latency_bucket == bucket_index(250.0)


def test_downgrade_from_0003_drops_the_bucket_and_the_rollout_tables_keeping_rows(
    engine: Engine,
) -> None:
    started = datetime(2026, 12, 1, tzinfo=UTC)
    record_outcome(
        engine,
        OutcomeRecord(
            request_id="req-kept",
            tenant_id="acme",
            route="chat",
            status="error",
            latency_ms=40.0,
            started_at=started,
            finished_at=started,
        ),
    )
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    assert "latency_bucket" not in column_names(engine, "outcomes")
    assert not {"rollout_looks", "rollout_decisions"} & table_names(engine)
    with engine.connect() as connection:
        kept = connection.execute(
            text("SELECT status, latency_ms FROM outcomes WHERE request_id = 'req-kept'")
        ).all()
    assert [tuple(r) for r in kept] == [("error", 40.0)]


def test_0004_adds_a_shadow_to_route_versions_and_takes_it_back_keeping_rows(
    engine: Engine,
) -> None:
    shadow = ShadowTarget(
        target=RouteTarget(variant="next", provider="simulated", model="sim-smart"), sample=0.1
    )
    publish_routes(
        engine,
        [
            RouteConfig(
                name="shadowed",
                targets=[RouteTarget(variant="base", provider="simulated", model="sim-fast")],
                shadow=shadow,
            )
        ],
    )
    assert live_config(engine, "shadowed")[1].shadow == shadow
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0003")
    assert "shadow" not in column_names(engine, "route_versions")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    # The version is still there; what the downgrade dropped stays dropped.
    version, config = live_config(engine, "shadowed")
    assert (version, config.shadow, config.targets[0].variant) == (1, None, "base")


def test_0005_adds_a_system_prompt_to_route_variants_and_takes_it_back_keeping_rows(
    engine: Engine,
) -> None:
    prompted_variant = RouteTarget(
        variant="base", provider="simulated", model="sim-fast", system_prompt="Answer briefly."
    )
    publish_routes(engine, [RouteConfig(name="prompted", targets=[prompted_variant])])
    assert live_config(engine, "prompted")[1].targets == [prompted_variant]
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0004")
    assert "system_prompt" not in column_names(engine, "route_variants")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    version, config = live_config(engine, "prompted")
    assert (version, config.targets[0].variant, config.targets[0].system_prompt) == (
        1,
        "base",
        None,
    )


# --- adopting a database made before migrations ---


@pytest.mark.parametrize("with_guardrails_table", [True, False], ids=["today", "pre-guardrails"])
def test_a_database_made_before_migrations_is_adopted_with_its_rows(
    bare_engine: Engine, with_guardrails_table: bool, caplog: pytest.LogCaptureFixture
) -> None:
    make_legacy_database(bare_engine, with_guardrails_table)
    assert schema_revision(bare_engine) is None
    with caplog.at_level(logging.INFO, logger="alembic"):
        init_schema(bare_engine)
    # Adopted: the baseline ran over the existing tables (adding only what was missing).
    assert [m.split(",")[0] for m in upgrades_logged(caplog)] == [
        "Running upgrade  -> 0001",
        "Running upgrade 0001 -> 0002",
        "Running upgrade 0002 -> 0003",
        "Running upgrade 0003 -> 0004",
        "Running upgrade 0004 -> 0005",
        "Running upgrade 0005 -> 0006",
        "Running upgrade 0006 -> 0007",
        "Running upgrade 0007 -> 0008",
        "Running upgrade 0008 -> 0009",
        "Running upgrade 0009 -> 0010",
        "Running upgrade 0010 -> 0011",
        "Running upgrade 0011 -> 0012",
        "Running upgrade 0012 -> 0013",
        "Running upgrade 0013 -> 0014",
        "Running upgrade 0014 -> 0015",
        "Running upgrade 0015 -> 0016",
        "Running upgrade 0016 -> 0017",
    ]
    assert schema_revision(bare_engine) == head_revision()
    assert differences(bare_engine) == []
    # Every row is still there.
    assert authenticate(bare_engine, LEGACY_KEY) == "acme"
    [outcome] = outcomes_for_request(bare_engine, "req-legacy")
    assert outcome.started_at == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    found = live_config(bare_engine, "chat")
    assert found is not None
    version, config = found
    assert version == 2
    assert config.description == "legacy chat"
    assert [(t.variant, t.model, t.weight, t.options) for t in config.targets] == [
        ("baseline", "sim-fast", 3.0, {"echo": True}),
        ("candidate", "sim-smart", 1.0, {}),
    ]
    expected_policy = LEGACY_POLICY if with_guardrails_table else GuardrailPolicy()
    assert config.guardrails == expected_policy
    old = config_at(bare_engine, "chat", 1)
    assert old is not None and [t.weight for t in old.targets] == [1.0]
    assert old.guardrails == GuardrailPolicy()  # what version 1 ran with was never recorded
    # Publishing continues the history.
    assert publish_route(bare_engine, "chat", config.targets[:1]) == 3


# --- concurrency ---


def test_concurrent_upgrades_from_threads(store_url: str) -> None:
    engines = [create_store_engine(store_url) for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def upgrade(engine: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            init_schema(engine)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "init_schema hung"
        assert errors == []
        assert schema_revision(engines[0]) == head_revision()
        assert differences(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


UPGRADE_SCRIPT = """
import sys
from store import create_store_engine, init_schema
from store.guardrails import set_route_policy
engine = create_store_engine(sys.argv[1])
init_schema(engine)
engine.dispose()
"""


@pytest.mark.parametrize("start", ["empty", "legacy"])
def test_concurrent_upgrades_from_processes(
    store_url: str, bare_engine: Engine, start: str, tmp_path: Path
) -> None:
    """Replicas starting together, on an empty database or one to adopt."""
    if start == "legacy":
        make_legacy_database(bare_engine)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_SCRIPT, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * WORKERS, "\n".join(outputs)
    assert schema_revision(bare_engine) == head_revision()
    assert differences(bare_engine) == []
    if start == "legacy":
        assert authenticate(bare_engine, LEGACY_KEY) == "acme"
        found = live_config(bare_engine, "chat")
        assert found is not None and found[0] == 2
        with bare_engine.connect() as connection:
            versions = connection.execute(
                text("SELECT version FROM route_versions ORDER BY version")
            ).scalars()
            assert list(versions) == [1, 2]


def test_create_revision_writes_what_the_database_lacks(engine: Engine, tmp_path: Path) -> None:
    """`interlock db revision`, on a copy of the migrations so the package stays untouched."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIRECTORY, directory, ignore=shutil.ignore_patterns("__pycache__"))
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_outcomes_tenant_id"))
    path = create_revision(engine, "restore an index", directory=directory)
    assert path == directory / "versions" / "0018_restore_an_index.py"
    source = path.read_text(encoding="utf-8")
    assert "down_revision = '0017'" in source
    upgrade = source[source.index("def upgrade") : source.index("def downgrade")]
    assert re.search(r"create_index\((batch_)?op\.f\('ix_outcomes_tenant_id'\)", upgrade)
