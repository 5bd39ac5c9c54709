"""Hostile input against the running gateway: every case gets a 4xx in the OpenAI error shape that
names the problem, nothing gets a 5xx or leaves a request workflow running, and memory stays flat
while the whole set is sent again and again."""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.app import create_app, server_config
from tests.conftest import free_port, publish_echo_route

CHAT = "/v1/chat/completions"


def chat_body(**overrides: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "Hello"}], **overrides}


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode()


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def deep_tool_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    function = {"name": name, "parameters": parameters or {"type": "object", "properties": {}}}
    return {"type": "function", "function": function}


def packed_call_id(state_json: bytes) -> str:
    """A tool call id carrying provider state, as gateway.openai_wire packs it."""
    return "call_1.ilps." + base64.urlsafe_b64encode(state_json).decode().rstrip("=")


def tool_round_trip(call_id: str) -> dict[str, Any]:
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return chat_body(
        messages=[
            {"role": "user", "content": "call f"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "done"},
        ],
        tools=[tool("f")],
    )


@dataclass
class Hostile:
    """One hostile request and the refusal it must get."""

    content: bytes | None
    status: int
    code: str
    mentions: str  # a word of the error message that names the problem
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def hostile_set(body_limit: int) -> dict[str, Hostile]:
    almost_full = body_limit - 200
    return {
        "oversized-with-content-length": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "x" * body_limit}])),
            413,
            "request_too_large",
            "exceeds",
        ),
        "nested-10000-deep-inside": Hostile(
            b'{"model": "chat", "messages": [], "metadata": ' + nested(10_000).encode() + b"}",
            400,
            "nesting_too_deep",
            "deep",
        ),
        "nested-10000-deep-whole-body": Hostile(
            nested(10_000).encode(), 400, "nesting_too_deep", "deep"
        ),
        "nested-10000-deep-objects": Hostile(
            b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, 400, "nesting_too_deep", "deep"
        ),
        "tool-schema-nested-300-deep": Hostile(
            encoded(chat_body(tools=[tool("deep", deep_tool_schema(300))])),
            400,
            "nesting_too_deep",
            "deep",
        ),
        "tool-call-state-nested-10000-deep": Hostile(
            encoded(tool_round_trip(packed_call_id(nested(10_000).encode()))),
            400,
            "invalid_value",
            "state",
        ),
        "invalid-utf8": Hostile(
            b'{"model": "chat", "messages": [{"role": "user", "content": "caf\xe9"}]}',
            400,
            "invalid_json",
            "UTF-8",
        ),
        "utf16-body": Hostile(
            json.dumps(chat_body()).encode("utf-16"), 400, "invalid_json", "UTF-8"
        ),
        "not-json": Hostile(b"hello, gateway", 400, "invalid_json", "JSON"),
        "truncated-json": Hostile(b'{"model": "chat", "messages": [', 400, "invalid_json", "JSON"),
        "empty-body": Hostile(b"", 400, "invalid_json", "empty"),
        "array-body": Hostile(encoded([chat_body()]), 400, "invalid_request", "JSON object"),
        "string-body": Hostile(encoded("chat"), 400, "invalid_request", "JSON object"),
        "number-body": Hostile(b"42", 400, "invalid_request", "JSON object"),
        "nan-temperature": Hostile(
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": NaN}',
            400,
            "invalid_value",
            "temperature",
            param="temperature",
        ),
        "n-huge": Hostile(
            encoded(chat_body(n=10**9)), 400, "unsupported_parameter", "n=1", param="n"
        ),
        "n-beyond-64-bits": Hostile(
            encoded(chat_body(n=10**30)), 400, "unsupported_parameter", "n=1", param="n"
        ),
        "n-negative": Hostile(encoded(chat_body(n=-3)), 400, "invalid_value", "n", param="n"),
        "max-tokens-huge": Hostile(
            encoded(chat_body(max_tokens=10**12)),
            400,
            "invalid_value",
            "max_tokens",
            param="max_tokens",
        ),
        "max-tokens-negative": Hostile(
            encoded(chat_body(max_tokens=-1)),
            400,
            "invalid_value",
            "max_tokens",
            param="max_tokens",
        ),
        "max-completion-tokens-huge": Hostile(
            encoded(chat_body(max_completion_tokens=10**12)),
            400,
            "invalid_value",
            "max_completion_tokens",
            param="max_completion_tokens",
        ),
        "seed-beyond-64-bits": Hostile(
            encoded(chat_body(seed=2**64)), 400, "invalid_value", "seed", param="seed"
        ),
        "10000-messages": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "hi"}] * 10_000)),
            400,
            "array_above_max_length",
            "messages",
            param="messages",
        ),
        "5000-tools": Hostile(
            encoded(chat_body(tools=[tool(f"tool_{i}") for i in range(5_000)])),
            400,
            "array_above_max_length",
            "tools",
            param="tools",
        ),
        "nul-in-content": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "a\u0000b"}])),
            400,
            "invalid_value",
            "NUL",
        ),
        "nul-in-model": Hostile(
            encoded(chat_body(model="ch\u0000at")), 400, "invalid_value", "NUL"
        ),
        "lone-high-surrogate": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "a\ud800b"}])),
            400,
            "invalid_json",
            "surrogate",
        ),
        "lone-low-surrogate-at-end": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "a\udc00"}])),
            400,
            "invalid_json",
            "surrogate",
        ),
        "lone-surrogate-in-model": Hostile(
            encoded(chat_body(model="\udbff")), 400, "invalid_json", "surrogate"
        ),
        "text-plain": Hostile(
            encoded(chat_body()),
            415,
            "unsupported_media_type",
            "application/json",
            headers={"Content-Type": "text/plain"},
        ),
        "xml": Hostile(
            b"<chat><model>chat</model></chat>",
            415,
            "unsupported_media_type",
            "application/json",
            headers={"Content-Type": "application/xml"},
        ),
        "multipart": Hostile(
            b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nchat\r\n--x--\r\n',
            415,
            "unsupported_media_type",
            "application/json",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        ),
        "content-too-large-for-a-workflow-payload": Hostile(
            encoded(chat_body(messages=[{"role": "user", "content": "v" * 1_020_000}])),
            413,
            "request_too_large",
            "payload",
        ),
        "content-just-under-the-limit-with-nul": Hostile(
            encoded(
                chat_body(messages=[{"role": "user", "content": "\u0000" * (almost_full // 6)}])
            ),
            400,
            "invalid_value",
            "NUL",
        ),
    }


def auth(stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


async def send(http: httpx.AsyncClient, stack, case: Hostile) -> httpx.Response:
    headers = {"Content-Type": "application/json", **auth(stack), **case.headers}
    return await http.post(CHAT, content=case.content, headers=headers)


def assert_refused(response: httpx.Response, case: Hostile) -> None:
    assert response.status_code == case.status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == case.code, error
    assert error["type"] == "invalid_request_error", error
    assert case.mentions.lower() in error["message"].lower(), error
    if case.param is not None:
        assert error["param"] == case.param, error
    assert "x-request-id" not in response.headers  # refused before any workflow started


HOSTILE_CASES = list(hostile_set(1_048_576))


@pytest.mark.parametrize("name", HOSTILE_CASES)
async def test_hostile_body_is_refused_with_a_clear_error(stack, name: str) -> None:
    case = hostile_set(stack.settings.max_body_bytes)[name]
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await send(http, stack, case)
    assert_refused(response, case)


@pytest.mark.parametrize(
    ("path", "content", "status", "code"),
    [
        pytest.param(
            "/v1/feedback",
            encoded({"request_id": "chatcmpl-\ud800", "thumbs": "up"}),
            400,
            "invalid_json",
            id="feedback-lone-surrogate",
        ),
        pytest.param(
            "/v1/feedback",
            encoded({"request_id": "chatcmpl-\u0000", "thumbs": "up"}),
            400,
            "invalid_value",
            id="feedback-nul",
        ),
        pytest.param(
            "/v1/feedback",
            b'{"request_id": ' + nested(10_000).encode() + b"}",
            400,
            "nesting_too_deep",
            id="feedback-nested",
        ),
        pytest.param(
            "/codec/decode",
            b'{"payloads": ' + nested(10_000).encode() + b"}",
            400,
            "nesting_too_deep",
            id="codec-nested",
        ),
        pytest.param(
            "/codec/decode", b'{"payloads": "\xff"}', 400, "invalid_json", id="codec-not-utf8"
        ),
    ],
)
async def test_every_endpoint_with_a_body_gets_the_same_checks(
    stack, path: str, content: bytes, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json", **auth(stack)}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("a surrogate pair \ud83d\ude00 escaped", id="escaped-surrogate-pair"),
        pytest.param("a backslash then text: \\ud800 \\u0000", id="escaped-backslash-not-escapes"),
        pytest.param("brackets in text " + "[{" * 5_000, id="brackets-inside-a-string"),
    ],
)
async def test_look_alikes_of_hostile_input_are_answered(stack, content: str) -> None:
    """Surrogate pairs, a backslash before 'u0000' and brackets inside strings are ordinary text."""
    body = encoded(chat_body(messages=[{"role": "user", "content": content}]))
    assert b"\\ud83d\\ude00" in body or b"\\\\u" in body or b"[{[{" in body
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(CHAT, content=body, headers=auth(stack))
    assert response.status_code == 200, response.text[:500]


@pytest.fixture(scope="module")
def roomy_route(stack) -> str:
    """A route whose model has room for the largest request the limits let through."""
    return publish_echo_route(stack.engine, "hostile-roomy", context_window=4_000_000, echo=False)


async def test_the_limits_themselves_are_accepted(stack, roomy_route) -> None:
    settings = stack.settings
    body = chat_body(
        model=roomy_route,
        messages=[{"role": "user", "content": "hi"}] * settings.max_messages,
        tools=[tool(f"tool_{i}") for i in range(settings.max_tools)],
        max_tokens=settings.max_output_tokens,
        seed=2**63 - 1,
    )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(CHAT, json=body, headers=auth(stack))
    assert response.status_code == 200, response.text[:500]


# --- oversized bodies however they are sent ---


async def chunks_of(total: int, size: int = 65_536) -> AsyncIterator[bytes]:
    yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
    chunk = b"y" * size  # one object sent again and again: the client holds no copy of the body
    for _ in range(total // size):
        yield chunk
    yield b'"}]}'


@pytest.mark.parametrize("chunk_size", [65_536, 1_024], ids=["64KiB-chunks", "1KiB-chunks"])
async def test_oversized_chunked_body_is_refused(stack, chunk_size: int) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            CHAT,
            content=chunks_of(2 * stack.settings.max_body_bytes, chunk_size),
            headers=auth(stack),
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_the_codec_endpoint_has_a_body_limit_of_its_own(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/codec/decode", content=chunks_of(stack.settings.codec_max_body_bytes)
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def raw_exchange(stack, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are over a fresh connection; the status and the body of the answer."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(1_000_000), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def test_a_declared_oversize_is_refused_before_any_body_is_sent(stack) -> None:
    """A Content-Length beyond the limit is answered at once, without waiting for the body."""
    status, body = await raw_exchange(
        stack,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n",
    )
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024], ids=["64KiB", "1MiB"])
async def test_a_huge_header_is_refused(stack, size: int) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            CHAT, json=chat_body(), headers={**auth(stack), "X-Padding": "p" * size}
        )
    assert response.status_code == 431, response.text[:300]
    assert response.json()["error"]["code"] == "headers_too_large"
    assert "headers" in response.json()["error"]["message"]


# --- a gateway served as `interlock gateway` serves it, with an 8 MiB body limit ---


@pytest.fixture(scope="module")
async def served_gateway(stack) -> AsyncIterator[str]:
    settings = stack.settings.model_copy(
        update={
            "max_body_bytes": 8 * 1024 * 1024,
            "request_task_queue": "interlock-requests-hostile",
            "gateway_port": free_port(),
        }
    )
    server = uvicorn.Server(server_config(create_app(settings, client=stack.client), settings))
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "the gateway did not start"
    try:
        yield f"http://127.0.0.1:{settings.gateway_port}"
    finally:
        server.should_exit = True
        await serving


async def test_several_megabytes_of_content_is_refused_clearly_not_stuck(
    stack, served_gateway
) -> None:
    """Within the body limit but beyond what a workflow payload holds: a 413 before any
    workflow starts (the server would refuse to start it, which was a 503 once)."""
    body = chat_body(messages=[{"role": "user", "content": "z" * 5_000_000}])
    async with httpx.AsyncClient(base_url=served_gateway, timeout=60) as http:
        response = await http.post(CHAT, json=body, headers=auth(stack))
    assert response.status_code == 413, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert "payload" in error["message"]
    assert "x-request-id" not in response.headers  # no workflow was started


async def send_head_of(base_url: str, header_bytes: int) -> tuple[int, bytes]:
    """Send a request head with one header of `header_bytes`, stopping early if the server
    answers first; the status and body of its answer."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = asyncio.create_task(reader.read(65_536))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: ")
        chunk = b"p" * 65_536
        for _ in range(header_bytes // len(chunk)):
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
        else:
            writer.write(b"\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server closed the connection on the head it refused
    try:
        head, _, body = (await asyncio.wait_for(answer, timeout=10)).partition(b"\r\n\r\n")
    finally:
        writer.close()
    return int(head.split(b" ")[1]), body


async def test_a_head_that_never_ends_is_cut_off_while_it_arrives(served_gateway) -> None:
    """httptools would hold a 64 MiB header whole (uvicorn sets no bound); the gateway's server
    answers 431 once the head passes the limit, holding no more than a read beyond it."""
    before = resident_bytes()
    status, body = await send_head_of(served_gateway, 64 * 1024 * 1024)
    grown = resident_bytes() - before
    assert status == 431
    assert json.loads(body)["error"]["code"] == "headers_too_large"
    assert grown < 8 * 1024 * 1024, f"resident size grew by {grown / 2**20:.1f} MiB"
    assert (await send_head_of(served_gateway, 8 * 1024))[0] == 200  # a modest head passes


async def test_the_largest_request_a_workflow_payload_holds_is_answered(stack, roomy_route) -> None:
    content = "w" * 1_000_000  # its messages fit in half a payload, with room for the route
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        response = await http.post(
            CHAT,
            json=chat_body(model=roomy_route, messages=[{"role": "user", "content": content}]),
            headers=auth(stack),
        )
    assert response.status_code == 200, response.text[:500]


# --- memory ---


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


MEMORY_ROUNDS = 6
# The gateway serves in this process, so its resident size is the process's. Allocators keep
# freed memory for reuse, so the first round sets the level and later rounds must stay near it:
# measured 4.5-5.5 MiB above it after 4 to 12 rounds, while keeping each refused body would add
# tens of MiB a round.
MEMORY_GROWTH_BOUND = 16 * 1024 * 1024


async def test_memory_stays_bounded_under_the_hostile_set(stack) -> None:
    cases = hostile_set(stack.settings.max_body_bytes)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:

        async def one_round() -> None:
            for case in cases.values():
                response = await send(http, stack, case)
                assert response.status_code < 500, response.text[:300]
            oversized = await http.post(
                CHAT, content=chunks_of(4 * stack.settings.max_body_bytes), headers=auth(stack)
            )
            assert oversized.status_code == 413

        await one_round()
        settled = resident_bytes()
        for _ in range(MEMORY_ROUNDS):
            await one_round()
        grown = resident_bytes() - settled
    assert grown < MEMORY_GROWTH_BOUND, f"resident size grew by {grown / 2**20:.1f} MiB"


async def test_an_endless_chunked_body_is_not_buffered(stack) -> None:
    """64 MiB streamed at the gateway: it holds at most about one body limit of it at a time."""
    limit = stack.settings.max_body_bytes
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
            response = await http.post(
                CHAT, content=chunks_of(64 * 1024 * 1024), headers=auth(stack)
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 4 * limit, f"peak {peak / 2**20:.1f} MiB while refusing a 64 MiB body"
