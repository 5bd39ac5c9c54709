"""The gateway's OpenAPI document, and a schema-driven fuzzer run against it.

Schemathesis reads /openapi.json from the running gateway (loopback only), generates valid and
invalid chat-completions requests from the documented body, sends them, and checks every answer:
no 5xx, a documented status and content type, and a body that matches the documented schema.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import jsonschema_rs
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHAT = "/v1/chat/completions"
EXAMPLES = 150
# Generation stops sending after this long, so a loaded machine runs fewer cases, not a longer test.
SENDING_SECONDS = 20.0


async def openapi_document(stack) -> dict:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_openapi_documents_the_chat_completions_contract(stack) -> None:
    document = await openapi_document(stack)
    operation = document["paths"][CHAT]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    request_schema = document["components"]["schemas"]["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(request_schema["required"])
    assert {"temperature", "max_tokens", "stream", "tools"} <= set(request_schema["properties"])

    answer = operation["responses"]["200"]["content"]
    assert answer["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletion"}
    chunk = answer["text/event-stream"]["itemSchema"]["properties"]["data"]["contentSchema"]
    assert {"$ref": "#/components/schemas/ChatCompletionChunk"} in chunk["anyOf"]
    assert "ChatCompletionChunk" in document["components"]["schemas"]

    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in ("400", "401", "404", "413", "415", "502", "503", "504"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == error
    assert "422" not in operation["responses"]  # validation errors are answered as 400s
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"message", "type", "param", "code"}
    assert {"ApiKeyBearer", "ApiKeyHeader"} <= set(document["components"]["securitySchemes"])


async def test_streamed_chunks_match_the_documented_schema(stack) -> None:
    document = await openapi_document(stack)
    validator = jsonschema_rs.validator_for(
        {**document, "$ref": "#/components/schemas/ChatCompletionChunk"}
    )
    body = {
        "model": "chat",
        "messages": [{"role": "user", "content": "Stream a short answer"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = []
    async with (
        httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http,
        http.stream(
            "POST", CHAT, json=body, headers={"Authorization": f"Bearer {stack.api_key}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(line.removeprefix("data: "))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert len(chunks) >= 3  # role, content, finish reason (and usage)
    for chunk in chunks:
        errors = [error.message for error in validator.iter_errors(chunk)]
        assert errors == [], chunk
    assert chunks[-1]["usage"]["total_tokens"] > 0


async def test_schema_fuzzing_finds_no_server_error(stack) -> None:
    schema = await asyncio.to_thread(
        schemathesis.openapi.from_url, f"{stack.base_url}/openapi.json"
    )
    operation = schema[CHAT]["POST"]
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    statuses: Counter[int] = Counter()
    stop_sending_at = time.monotonic() + SENDING_SECONDS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    def fuzz(case: schemathesis.Case) -> None:
        if time.monotonic() > stop_sending_at:
            return
        response = case.call_and_validate(
            base_url=stack.base_url,
            headers=auth,
            timeout=15,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                negative_data_rejection,
            ],
        )
        statuses[response.status_code] += 1

    # Schemathesis calls with a blocking client; the gateway serves on this test's event loop.
    await asyncio.to_thread(fuzz)
    assert sum(statuses.values()) >= 20, statuses
    assert not any(status >= 500 for status in statuses), statuses
    assert any(400 <= status < 500 for status in statuses), statuses
    assert statuses[200] >= 1, statuses  # the documented example succeeds, its answer validated
