"""A provider outage through the gateway: the official openai client -> gateway -> the OpenAI
adapter -> a local server that goes down. The breaker opens on the failures, requests go straight
to the fallback with no call to the down server, and once it is back the breaker's probes close
it again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from sqlalchemy.engine import Engine

from configuration.settings import ProviderConfig
from contracts.routing import RouteTarget
from gateway.app import create_app
from store.breakers import breakers
from store.engine import create_store_engine
from store.routes import publish_route
from store.schema import init_schema
from store.tenants import add_api_key, ensure_tenant
from tests.conftest import serving
from tests.openai_server import OpenAICompatServer

KEY = "sk-breaker-test"
PROVIDER = "outage-openai"


@pytest.fixture
def server():
    with OpenAICompatServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def own_store(tmp_path) -> Iterator[Engine]:
    """A store of this test's own: its breakers (several gateways' judgment of shared models in
    a shared store) then touch no other test's providers."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'breakers.db'}")
    init_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def gateway(stack, server, own_store, monkeypatch) -> AsyncIterator[openai.AsyncOpenAI]:
    monkeypatch.setenv("OUTAGE_OPENAI_KEY", KEY)
    ensure_tenant(own_store, "breakers")
    key = add_api_key(own_store, "breakers")
    settings = stack.settings.model_copy(
        update={
            "database_url": str(own_store.url),
            "request_task_queue": f"breakers-{uuid.uuid4().hex[:8]}",
            "providers": [
                ProviderConfig(
                    name=PROVIDER,
                    kind="openai",
                    base_url=server.url,
                    api_key_env="OUTAGE_OPENAI_KEY",
                )
            ],
            "breaker_window_seconds": 20.0,
            "breaker_min_calls": 4,
            "breaker_open_seconds": 2.0,
            "breaker_probes": 2,
        }
    )
    async with (
        serving(create_app(settings, client=stack.client)) as base_url,
        openai.AsyncOpenAI(
            base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=60
        ) as client,
    ):
        yield client


async def ask(client: openai.AsyncOpenAI) -> str:
    """One request; the variant that answered it."""
    raw = await client.chat.completions.with_raw_response.create(
        model="outage-route", messages=[{"role": "user", "content": "is it up?"}]
    )
    return raw.headers["x-interlock-variant"]


async def state_becomes(engine: Engine, wanted: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        breaker = breakers(engine).get((PROVIDER, "gpt-4o-mini"))
        if breaker is not None and breaker.state == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the breaker did not become {wanted}")


async def test_an_outage_opens_the_breaker_and_probes_close_it(own_store, server, gateway) -> None:
    publish_route(
        own_store,
        "outage-route",
        [
            RouteTarget(variant="main", provider=PROVIDER, model="gpt-4o-mini", weight=1.0),
            RouteTarget(variant="backup", provider="simulated", model="sim-fast", weight=0.0),
        ],
    )
    assert await ask(gateway) == "main"

    server.down = True
    # Each request fails on the main variant (after its retries) and is answered by the backup.
    for _ in range(4):
        assert await ask(gateway) == "backup"
    await state_becomes(own_store, "open")

    # Open: the down server is not called at all; the backup answers at once.
    calls_before = len(server.requests)
    for _ in range(5):
        assert await ask(gateway) == "backup"
    assert len(server.requests) == calls_before

    server.down = False
    await state_becomes(own_store, "half_open")
    # Two probes reach the server and answer; the breaker closes and main has its traffic back.
    answered_by = [await ask(gateway) for _ in range(2)]
    assert answered_by == ["main", "main"]
    await state_becomes(own_store, "closed")
    assert await ask(gateway) == "main"
    metrics = await _metrics(gateway)
    for state in ("open", "half_open", "closed"):
        assert (
            f'interlock_breaker_transitions_total{{model="gpt-4o-mini",provider="{PROVIDER}",'
            f'state="{state}"}} 1.0' in metrics
        )


async def _metrics(client: openai.AsyncOpenAI) -> str:
    base = str(client.base_url).removesuffix("/v1/")
    async with httpx.AsyncClient(base_url=base) as http:
        return (await http.get("/metrics")).text
