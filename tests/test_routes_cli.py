"""`interlock routes apply/get/list` and `interlock db`, through the real commands.

Typer's CliRunner runs them in-process (these commands return normally); one test goes through
the installed console script to check the exit codes survive its hard exit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli.main import app
from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from contracts.routing import CachePolicy, RouteTarget, RoutingPolicy
from devstack.seed import DEMO_ROUTES_FILE, seed_demo
from guardrails.registry import SECRET_ENTITY_TYPES
from store import create_store_engine
from store.route_files import RouteFileError, dump_route, parse_routes
from store.routes import RouteConfig, live_config, publish_route, publish_routes
from store.schema import head_revision, schema_revision
from store.tenants import authenticate
from tests.test_migrations import LEGACY_KEY, make_legacy_database

SUPPORT_BOT = """\
name: support-bot
variants:
  - variant: baseline
    provider: simulated
    model: sim-fast
    weight: 1
    options: {echo: true, latency_median_ms: 0}
guardrails:
  input: {default_action: log, actions: {EMAIL_ADDRESS: redact, AWS_SECRET_KEY: block}}
  output: {default_action: log}
"""
SUPPORT_BOT_CONFIG = RouteConfig(
    name="support-bot",
    targets=[
        RouteTarget(
            variant="baseline",
            provider="simulated",
            model="sim-fast",
            weight=1.0,
            options={"echo": True, "latency_median_ms": 0},
        )
    ],
    guardrails=GuardrailPolicy(
        input=DirectionPolicy(
            default_action="log", actions={"EMAIL_ADDRESS": "redact", "AWS_SECRET_KEY": "block"}
        ),
        output=DirectionPolicy(default_action="log"),
    ),
)


def write(tmp_path: Path, content: str, name: str = "routes.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def snapshot(engine: Engine) -> list[tuple]:
    """Every route, version and variant row: what 'changes nothing' compares."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for table, order in (
                ("routes", "name"),
                ("route_versions", "route_name, version"),
                ("route_variants", "route_name, version, position"),
            )
            for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
        ]


# --- apply and get ---


def test_apply_creates_then_reports_unchanged(interlock, engine, tmp_path) -> None:
    path = write(tmp_path, SUPPORT_BOT)
    first = interlock("routes", "apply", str(path))
    assert (first.exit_code, first.stdout) == (0, "support-bot: created (version 1)\n")
    assert live_config(engine, "support-bot") == (1, SUPPORT_BOT_CONFIG)
    again = interlock("routes", "apply", str(path))
    assert (again.exit_code, again.stdout) == (0, "support-bot: unchanged (version 1)\n")
    assert live_config(engine, "support-bot") == (1, SUPPORT_BOT_CONFIG)


def test_get_prints_yaml_that_apply_takes_back_unchanged(interlock, engine, tmp_path) -> None:
    assert interlock("routes", "apply", str(write(tmp_path, SUPPORT_BOT))).exit_code == 0
    got = interlock("routes", "get", "support-bot")
    assert got.exit_code == 0, got.stderr
    assert got.stdout.startswith("# route support-bot, version 1\n")
    assert yaml.safe_load(got.stdout)["guardrails"]["input"]["actions"] == {
        "EMAIL_ADDRESS": "redact",
        "AWS_SECRET_KEY": "block",
    }
    round_trip = write(tmp_path, got.stdout, "got.yaml")
    applied = interlock("routes", "apply", str(round_trip))
    assert (applied.exit_code, applied.stdout) == (0, "support-bot: unchanged (version 1)\n")
    assert parse_routes(got.stdout, "got.yaml") == [SUPPORT_BOT_CONFIG]


@pytest.mark.parametrize(
    "config",
    [
        SUPPORT_BOT_CONFIG,
        RouteConfig(
            name="plain",
            description="two arms: one a fallback only\nsecond line: 'quoted' ü",
            targets=[
                RouteTarget(variant="a", provider="simulated", model="sim-fast", weight=0.25),
                RouteTarget(
                    variant="b",
                    provider="openai",
                    model="gpt-4o-mini",
                    weight=0,
                    options={"nested": {"list": [1, 2.5, None, "x"]}, "flag": False},
                    system_prompt="You answer for the railway.\nBe brief: 'one line'.",
                ),
            ],
            guardrails=GuardrailPolicy(
                input=DirectionPolicy(injection_threshold=0.5, injection_action="log"),
                bedrock={"guardrail_id": "g-1", "region": "eu-west-1"},
                restore_output=False,
            ),
            cache=CachePolicy(ttl_seconds=90),
            routing=RoutingPolicy(
                kind="score",
                cost_weight=100.0,
                latency_weight=0.5,
                max_cost_usd=0.01,
                max_latency_ms=2500,
                providers=["simulated", "openai"],
                min_context_tokens=32_000,
            ),
        ),
    ],
    ids=["support-bot", "every-field"],
)
def test_dump_and_parse_round_trip(config: RouteConfig) -> None:
    assert parse_routes(dump_route(config, version=7), "dumped") == [config]


def test_a_policy_change_alone_is_a_new_version(interlock, engine, tmp_path) -> None:
    interlock("routes", "apply", str(write(tmp_path, SUPPORT_BOT)))
    changed = SUPPORT_BOT.replace("AWS_SECRET_KEY: block", "AWS_SECRET_KEY: redact")
    result = interlock("routes", "apply", str(write(tmp_path, changed)))
    assert (result.exit_code, result.stdout) == (0, "support-bot: new version 2\n")
    found = live_config(engine, "support-bot")
    assert found is not None and found[0] == 2
    assert found[1].guardrails.input.actions["AWS_SECRET_KEY"] == "redact"
    old = interlock("routes", "get", "support-bot", "--version", "1")
    assert old.exit_code == 0 and "AWS_SECRET_KEY: block" in old.stdout


def test_several_documents_report_per_route(interlock, engine, tmp_path) -> None:
    publish_route(engine, "kept", [RouteTarget(variant="a", provider="simulated", model="m")])
    publish_route(engine, "moved", [RouteTarget(variant="a", provider="simulated", model="m")])
    path = write(
        tmp_path,
        """\
        name: kept
        variants: [{variant: a, provider: simulated, model: m}]
        ---
        name: fresh
        variants: [{variant: a, provider: simulated, model: sim-fast}]
        ---
        name: moved
        variants: [{variant: a, provider: simulated, model: m, weight: 2}]
        ---
        """,
    )
    result = interlock("routes", "apply", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "kept: unchanged (version 1)",
        "fresh: created (version 1)",
        "moved: new version 2",
    ]


def test_list_shows_live_versions(interlock, engine) -> None:
    publish_route(engine, "chat", [RouteTarget(variant="a", provider="simulated", model="m")])
    publish_route(engine, "chat", [RouteTarget(variant="b", provider="simulated", model="n")])
    result = interlock("routes", "list")
    assert result.exit_code == 0
    [row] = [line for line in result.stdout.splitlines() if "chat" in line]
    assert [cell.strip() for cell in row.split("│")[1:6]] == ["chat", "2", "b", "simulated/n", "1"]


def test_get_an_unknown_route(interlock) -> None:
    result = interlock("routes", "get", "nowhere")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: no route named 'nowhere'\n"
    missing = interlock("routes", "get", "nowhere", "--version", "3")
    assert missing.stderr == "error: no route named 'nowhere' with a version 3\n"


# --- invalid files change nothing ---

VALID_CHANGE = """\
name: existing
variants: [{variant: a, provider: simulated, model: changed}]
---
"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            """\
            name: support-bot
            variants:
              - {variant: a, provider: simulated, model: m, weight: -1}
            """,
            "document 2 (route 'support-bot'): variants.0.weight: Input should be greater "
            "than or equal to 0",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m, colour: red}]
            """,
            "document 2 (route 'support-bot'): variants.0.colour: Extra inputs are not permitted",
        ),
        (
            """\
            name: support-bot
            variant: [{variant: a, provider: simulated, model: m}]
            """,
            "document 2 (route 'support-bot'): variant: Extra inputs are not permitted",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m}]
            guardrails: {input: {actions: {EMAIL_ADDRESS: shred}}}
            """,
            "document 2 (route 'support-bot'): guardrails.input.actions.EMAIL_ADDRESS: "
            "Input should be 'allow', 'log', 'redact' or 'block'",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m}]
            guardrails: {output: {acts: {}}}
            """,
            "document 2 (route 'support-bot'): guardrails.output.acts: Extra inputs are not "
            "permitted",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m}]
            guardrails: {input: {actions: {EMAIL_ADRESS: redact}}}
            """,
            "document 2 (route 'support-bot'): guardrails.input.actions.EMAIL_ADRESS.[key]: "
            "unknown entity type; known: ANTHROPIC_API_KEY,",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m, weight: 0}]
            """,
            "document 2 (route 'support-bot'): variants: at least one variant needs a positive "
            "weight",
        ),
        (
            """\
            name: support-bot
            variants: [{variant: a, provider: simulated, model: m, options: {day: 2024-01-01}}]
            """,
            "document 2 (route 'support-bot'): variants.0.options: options must be plain JSON",
        ),
        (
            """\
            variants: [{variant: a, provider: simulated, model: m}]
            """,
            "document 2: name: Field required",
        ),
        (
            """\
            name: has/slash
            variants: [{variant: a, provider: simulated, model: m}]
            """,
            "document 2 (route 'has/slash'): name: String should match pattern",
        ),
        ("- a list\n", "document 2: expected a mapping of route fields, got a list"),
        (
            """\
            name: existing
            variants: [{variant: b, provider: simulated, model: m}]
            """,
            "document 2 (route 'existing'): name: the route is already defined in document 1",
        ),
    ],
    ids=[
        "negative-weight",
        "unknown-variant-key",
        "unknown-route-key",
        "bad-action",
        "unknown-guardrails-key",
        "unknown-entity-type",
        "no-positive-weight",
        "options-not-json",
        "no-name",
        "bad-name",
        "not-a-mapping",
        "duplicate-route",
    ],
)
def test_an_invalid_document_fails_the_whole_file(
    interlock, engine, tmp_path, content: str, expected: str
) -> None:
    publish_route(engine, "existing", [RouteTarget(variant="a", provider="simulated", model="m")])
    before = snapshot(engine)
    path = write(tmp_path, VALID_CHANGE + textwrap.dedent(content))
    result = interlock("routes", "apply", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}: {expected}" in result.stderr
    assert result.stderr.endswith(f"error: {path}: nothing was applied\n")
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "name: x\nvariants:\n  - variant: a\n   provider: b\n",
            "line 4, column 4: expected <block end>, but found '<block mapping start>'",
        ),
        ("name: x\nvariants: [a\n", "line 3, column 1: expected ',' or ']', but got"),
        ("name: x\nname: y\nvariants: []\n", "line 2, column 1: found duplicate key 'name'"),
    ],
    ids=["indentation", "unclosed-list", "duplicate-key"],
)
def test_yaml_errors_name_line_and_column(interlock, engine, tmp_path, content, expected) -> None:
    path = write(tmp_path, content)
    result = interlock("routes", "apply", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: {expected}")
    assert snapshot(engine) == []


def test_an_empty_or_missing_file_is_an_error(interlock, tmp_path) -> None:
    empty = write(tmp_path, "# nothing here\n---\n")
    result = interlock("routes", "apply", str(empty))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{empty}: defines no routes\n")
    missing = tmp_path / "missing.yaml"
    result = interlock("routes", "apply", str(missing))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{missing}: cannot read it:")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RouteFileError) as failure:
        parse_routes(
            "name: a\nvariants: []\n---\nname: b\nvariants: [{variant: v}]\n", "several.yaml"
        )
    assert failure.value.problems == [
        "several.yaml: document 1 (route 'a'): variants: List should have at least 1 item "
        "after validation, not 0",
        "several.yaml: document 2 (route 'b'): variants.0.provider: Field required",
        "several.yaml: document 2 (route 'b'): variants.0.model: Field required",
    ]


def test_a_failure_while_writing_leaves_every_route_as_it_was(engine) -> None:
    """One transaction: the first route's rows are written, then the second fails to store."""
    good = RouteConfig(
        name="a-first", targets=[RouteTarget(variant="a", provider="simulated", model="m")]
    )
    # A set is not JSON; only the database write finds out (route files reject it earlier).
    bad = RouteConfig(
        name="b-second",
        targets=[RouteTarget(variant="a", provider="simulated", model="m", options={"s": {1}})],
    )
    with pytest.raises(Exception, match="JSON serializable"):
        publish_routes(engine, [good, bad])
    assert snapshot(engine) == []


# --- the console script: exit codes survive the hard exit in run() ---


def test_console_script_exit_codes(store_url: str, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("interlock")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": store_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args, "--home", str(tmp_path / "home")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    bad = run("routes", "apply", str(write(tmp_path, "name: x\n", "bad.yaml")))
    assert bad.returncode == 2, bad.stderr
    assert "document 1 (route 'x'): variants: Field required" in bad.stderr
    good = run("routes", "apply", str(write(tmp_path, SUPPORT_BOT)))
    assert (good.returncode, good.stdout) == (0, "support-bot: created (version 1)\n")
    assert run("routes", "get", "nowhere").returncode == 1


# --- db ---


def test_db_upgrade_and_current(interlock, store_url: str) -> None:
    head = head_revision()
    assert interlock("db", "current").stdout == f"database at (none), newest is {head}\n"
    first = interlock("db", "upgrade")
    assert (first.exit_code, first.stdout) == (0, f"upgraded from revision (none) to {head}\n")
    again = interlock("db", "upgrade")
    assert (again.exit_code, again.stdout) == (0, f"already at revision {head}\n")
    assert interlock("db", "current").stdout == f"database at {head}, newest is {head}\n"


def test_db_upgrade_adopts_a_database_made_before_migrations(interlock, store_url: str) -> None:
    engine = create_store_engine(store_url)
    try:
        make_legacy_database(engine)
        result = interlock("db", "upgrade")
        assert result.stdout == f"upgraded from revision (none) to {head_revision()}\n"
        assert schema_revision(engine) == head_revision()
        assert authenticate(engine, LEGACY_KEY) == "acme"
    finally:
        engine.dispose()


def test_db_errors_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    url = "postgresql://nobody:secret-password@127.0.0.1:1/none"
    result = CliRunner().invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": url, "INTERLOCK_DATABASE_URL": url}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the store at postgresql+psycopg://nobody:***@")
    assert "secret-password" not in result.stderr
    assert "Traceback" not in result.stderr


# --- the demo routes file ---


def test_demo_routes_keep_the_guardrail_policy_they_had() -> None:
    """devstack/routes.yaml spells out what seed.py used to build from the registry's types."""
    personal = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE")
    built_before = GuardrailPolicy(
        input=DirectionPolicy(
            default_action="log",
            actions={
                **dict.fromkeys(personal, "redact"),
                **dict.fromkeys(SECRET_ENTITY_TYPES, "block"),
            },
            injection_threshold=0.8,
        ),
        output=DirectionPolicy(
            default_action="log", actions=dict.fromkeys(SECRET_ENTITY_TYPES, "redact")
        ),
    )
    routes = parse_routes(DEMO_ROUTES_FILE.read_text(encoding="utf-8"), str(DEMO_ROUTES_FILE))
    chat = next(route for route in routes if route.name == "chat")
    assert chat == RouteConfig(
        name="chat",
        description="Demo route over the simulated provider",
        targets=[RouteTarget(variant="baseline", provider="simulated", model="sim-fast")],
        guardrails=built_before,
    )


def test_seeding_twice_publishes_once(engine) -> None:
    first = seed_demo(engine, "il-seed-" + "s" * 40)
    second = seed_demo(engine, "il-seed-" + "s" * 40)
    # The demo route, the two that the demo's rollouts change, and its experiment's.
    names = ["chat", "support-bot", "summarizer", "writer"]
    assert [(r.name, r.change) for r in first] == [(name, "created") for name in names]
    assert [(r.name, r.change) for r in second] == [(name, "unchanged") for name in names]
