"""Who may use the codec endpoint: open on a loopback bind, a bearer token anywhere else.

The gateway learns its bind address from its settings (`gateway_host`), so a "public" gateway is
built here from settings that say 0.0.0.0 and served on 127.0.0.1: nothing binds a public
interface, and every request goes to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from configuration import Settings
from configuration.temporal import build_codec
from gateway.app import create_app
from gateway.codec_routes import CodecExposureError, codec_endpoint_token, is_loopback
from tests.conftest import free_port

TOKEN = "codec-" + "t" * 40


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app built from `settings`, served on a loopback port. The codec routes need no
    Temporal, so the app's lifespan (which starts workers) stays off."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "the gateway did not start"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def sealed_secret(settings: Settings) -> tuple[str, str]:
    """A payload encrypted with the gateway's key ring, as the JSON the Web UI posts."""
    marker = f"codec-secret-{uuid.uuid4().hex}"
    [sealed] = await build_codec(settings).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=f'"{marker}"'.encode())]
    )
    return marker, json_format.MessageToJson(Payloads(payloads=[sealed]))


def bound_to(settings: Settings, host: str, token: str | None = None) -> Settings:
    return settings.model_copy(
        update={
            "gateway_host": host,
            "codec_endpoint": True,
            "codec_token": SecretStr(token) if token is not None else None,
        }
    )


def decoded_text(response: httpx.Response) -> str:
    return json_format.Parse(response.text, Payloads()).payloads[0].data.decode()


@pytest.fixture
async def public_gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(bound_to(settings, "0.0.0.0", TOKEN)) as http:
        yield http


async def test_public_bind_refuses_an_unauthenticated_decode(settings, public_gateway) -> None:
    marker, body = await sealed_secret(settings)
    response = await public_gateway.post(
        "/codec/decode", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_codec_token"
    assert response.headers["www-authenticate"] == "Bearer"
    assert marker not in response.text
    encode = await public_gateway.post("/codec/encode", content=body)
    assert encode.status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer wrong", f"Basic {TOKEN}", TOKEN],
    ids=["longer", "shorter", "other", "basic-scheme", "no-scheme"],
)
async def test_public_bind_refuses_a_wrong_token(settings, public_gateway, authorization) -> None:
    marker, body = await sealed_secret(settings)
    response = await public_gateway.post(
        "/codec/decode", content=body, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("invalid_codec_token", "missing_codec_token")
    assert marker not in response.text


async def test_public_bind_decodes_for_the_right_token(settings, public_gateway) -> None:
    marker, body = await sealed_secret(settings)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = await public_gateway.post("/codec/decode", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert decoded_text(response) == f'"{marker}"'


async def test_the_web_ui_may_send_the_credential_cross_origin(public_gateway) -> None:
    """The UI's preflight for a request carrying Authorization is accepted from its origin."""
    preflight = await public_gateway.options(
        "/codec/decode",
        headers={
            "Origin": "http://localhost:8233",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["access-control-allow-credentials"] == "true"
    # Only the codec answers browsers from other origins; the API carries no CORS headers.
    api = await public_gateway.options(
        "/v1/chat/completions",
        headers={"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in api.headers


async def test_a_set_token_is_required_on_loopback_too(settings) -> None:
    marker, body = await sealed_secret(settings)
    async with serving(bound_to(settings, "127.0.0.1", TOKEN)) as http:
        refused = await http.post("/codec/decode", content=body)
        accepted = await http.post(
            "/codec/decode", content=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert refused.status_code == 401 and marker not in refused.text
    assert accepted.status_code == 200 and decoded_text(accepted) == f'"{marker}"'


async def test_loopback_without_a_token_stays_open_for_the_dev_stack(settings) -> None:
    marker, body = await sealed_secret(settings)
    async with serving(bound_to(settings, "127.0.0.1")) as http:
        response = await http.post("/codec/decode", content=body)
    assert response.status_code == 200, response.text
    assert decoded_text(response) == f'"{marker}"'


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "192.0.2.10", "gateway.internal", ""])
def test_an_open_codec_on_a_public_bind_is_refused(settings, host) -> None:
    assert not is_loopback(host)
    with pytest.raises(CodecExposureError, match="INTERLOCK_CODEC_TOKEN"):
        create_app(bound_to(settings, host))
    with pytest.raises(CodecExposureError):  # an empty token is no token
        create_app(bound_to(settings, host, token=""))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_binds_may_serve_the_codec_open(settings, host) -> None:
    assert is_loopback(host)
    assert codec_endpoint_token(bound_to(settings, host)) is None


def test_a_public_bind_without_the_codec_endpoint_needs_no_token(settings) -> None:
    public_without_codec = bound_to(settings, "0.0.0.0").model_copy(
        update={"codec_endpoint": False}
    )
    assert codec_endpoint_token(public_without_codec) is None
    create_app(public_without_codec)


def test_interlock_gateway_refuses_to_start_an_open_public_codec(tmp_path: Path) -> None:
    """`interlock gateway` exits 2 with a message, before connecting to anything or binding."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "TEMPORAL_"))}
    env |= {
        "INTERLOCK_HOME": str(tmp_path / "home"),
        "INTERLOCK_CODEC_ENDPOINT": "true",
        # Nothing listens here: a gateway that got as far as connecting would fail (exit 1).
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "cli", "gateway", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 2, output
    assert "INTERLOCK_CODEC_TOKEN" in output and "'0.0.0.0'" in output
