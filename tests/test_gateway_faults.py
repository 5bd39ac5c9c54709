"""The gateway when Temporal goes away: a clear 503, never a 500 or a hang."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn
from temporalio.testing import WorkflowEnvironment

from configuration.temporal import build_data_converter
from devstack.dev_server import dev_server_flags
from devstack.supervisor import temporal_binary
from gateway.app import create_app
from tests.conftest import DEMO_KEY, free_port


async def test_temporal_down_gives_503(settings, stack) -> None:
    # A private server, so stopping it does not disturb the shared one.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=dev_server_flags(),
        data_converter=build_data_converter(settings),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, client=env.client),
            host="127.0.0.1",
            port=port,
            log_level="critical",
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        await env.shutdown()
        body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            response = await http.post(
                "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {DEMO_KEY}"}
            )
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "temporal_unavailable"
        assert "retry" in error["message"]
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
