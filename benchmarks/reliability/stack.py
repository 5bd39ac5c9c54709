"""One `interlock dev` stack per scenario, with what the scenario reads it through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from temporalio.client import Client

from configuration import Settings
from configuration.temporal import build_data_converter
from devstack.launch import DevRun, clean_env, interlock_dev
from store import create_store_engine
from store.breaker_states import BreakerStates, open_breaker_states

API_KEY = "il-reliability-" + "r" * 32
TENANT = "demo"
REQUEST_TIMEOUT_SECONDS = 30.0
"""The gateway's deadline per request in these stacks: short, so that a hang shows quickly."""
STARTUP_SECONDS = 120.0


@dataclass
class ScenarioStack:
    run: DevRun
    engine: Engine
    client: Client
    env: dict[str, str]
    """The supervisor's environment."""
    database_url: str

    @property
    def base_url(self) -> str:
        return self.run.gateway_base

    def process_env(self, **overrides: str) -> dict[str, str]:
        """The environment the supervisor gives its children, for more of them started here."""
        return {
            **self.env,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.run.temporal_port}",
            "TEMPORAL_NAMESPACE": "default",
            "INTERLOCK_HOME": str(self.run.home),
            "INTERLOCK_DATABASE_URL": self.database_url,
            **overrides,
        }

    def breaker_states(self) -> BreakerStates:
        """Where the stack's gateways keep their breakers: Redis if they were given one."""
        return open_breaker_states(self.env.get("INTERLOCK_REDIS_URL"), self.engine)


@contextlib.asynccontextmanager
async def scenario_stack(
    workdir: Path, database_url: str | None = None, env: Mapping[str, str] | None = None
) -> AsyncIterator[ScenarioStack]:
    overrides = {
        "INTERLOCK_DEMO_API_KEY": API_KEY,
        # Simulated calls take a tenth of their profile's time: enough to keep requests in
        # flight when a process is killed, short enough for thousands of requests a minute.
        "INTERLOCK_SIMULATOR_LATENCY_SCALE": "0.1",
        "INTERLOCK_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS),
        "INTERLOCK_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    if database_url:
        overrides["INTERLOCK_DATABASE_URL"] = database_url
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(overrides)
    with interlock_dev(workdir, env) as run:
        await asyncio.to_thread(run.wait_until_up, STARTUP_SECONDS)
        url = database_url or f"sqlite:///{run.home / 'interlock.db'}"
        engine = create_store_engine(url)
        # The stack's own key ring: the workflows' payloads are encrypted (codec/).
        client = await Client.connect(
            f"127.0.0.1:{run.temporal_port}",
            data_converter=build_data_converter(Settings(home=run.home)),
        )
        try:
            yield ScenarioStack(run, engine, client, env, url)
        finally:
            engine.dispose()
