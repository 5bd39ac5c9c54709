"""The gateway's OpenAPI document, and a schema-driven fuzzer run against it.

Schemathesis reads /openapi.json from the running gateway (loopback only), generates valid and
invalid requests for every operation it documents (chat completions at length, the others
briefly), sends them, and checks every answer: no 5xx, a documented status and content type, and
a body that matches the documented schema. Each operation has a number of examples and a time
budget, whichever ends first, so a loaded machine runs fewer cases rather than a longer test.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from schemathesis.schemas import APIOperation

CHAT = "/v1/chat/completions"
EXAMPLES = 150
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
    fields = request_schema["properties"]
    assert {"temperature", "max_tokens", "stream", "tools"} <= set(fields)
    # The operator's limits on input are shown, so the fuzzer below generates around them.
    limits = stack.settings
    assert fields["messages"]["maxItems"] == limits.max_messages
    assert fields["tools"]["anyOf"][0]["maxItems"] == limits.max_tools
    assert fields["max_tokens"]["anyOf"][0]["maximum"] == limits.max_output_tokens

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


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


class _TimeIsUp(Exception):
    """Raised to end generation: Hypothesis has example counts but no clock, and on a loaded
    machine generating the remaining examples alone can take longer than sending them."""


async def fuzz(stack, operation: APIOperation, examples: int, seconds: float) -> Counter[int]:
    """Send up to `examples` valid and invalid requests generated for `operation`, for at most
    about `seconds`, checking every answer; how many answers had each status."""
    auth = {"Authorization": f"Bearer {stack.api_key}"}
    statuses: Counter[int] = Counter()
    time_is_up_at = time.monotonic() + seconds

    @settings(
        max_examples=examples,
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
    def send(case: schemathesis.Case) -> None:
        if time.monotonic() > time_is_up_at:
            raise _TimeIsUp
        response = case.call_and_validate(
            base_url=stack.base_url, headers=auth, timeout=15, checks=CHECKS
        )
        statuses[response.status_code] += 1

    # Schemathesis calls with a blocking client; the gateway serves on this test's event loop.
    with contextlib.suppress(_TimeIsUp):
        await asyncio.to_thread(send)
    return statuses


async def fuzzed_schema(stack) -> schemathesis.BaseSchema:
    return await asyncio.to_thread(schemathesis.openapi.from_url, f"{stack.base_url}/openapi.json")


async def test_schema_fuzzing_finds_no_server_error(stack) -> None:
    schema = await fuzzed_schema(stack)
    statuses = await fuzz(stack, schema[CHAT]["POST"], EXAMPLES, SENDING_SECONDS)
    assert sum(statuses.values()) >= 20, statuses
    assert not any(status >= 500 for status in statuses), statuses
    assert any(400 <= status < 500 for status in statuses), statuses
    assert statuses[200] >= 1, statuses  # the documented example succeeds, its answer validated


# Examples and seconds for each other operation. Those with neither parameters nor a documented
# body (health, models, and the codec, whose routes read their bodies raw) vary in little more
# than credentials, so Hypothesis runs out of new cases after a few. An operation added later is
# fuzzed with the default until it is given its own.
OTHER_OPERATIONS: dict[tuple[str, str], tuple[int, float]] = {
    ("POST", "/v1/feedback"): (60, 6.0),
    ("POST", "/codec/decode"): (10, 2.0),
    ("POST", "/codec/encode"): (10, 2.0),
    ("GET", "/v1/models"): (10, 2.0),
    ("GET", "/healthz"): (10, 2.0),
    ("GET", "/readyz"): (10, 2.0),
}
DEFAULT_BUDGET = (25, 3.0)


async def test_every_other_operation_is_fuzzed_without_a_server_error(stack) -> None:
    schema = await fuzzed_schema(stack)
    fuzzed: dict[tuple[str, str], Counter[int]] = {}
    for path, methods in schema.items():
        for method, operation in methods.items():
            key = (method.upper(), path)
            if key == ("POST", CHAT):
                continue  # fuzzed at length above
            examples, seconds = OTHER_OPERATIONS.get(key, DEFAULT_BUDGET)
            fuzzed[key] = await fuzz(stack, operation, examples, seconds)
    assert set(OTHER_OPERATIONS) <= set(fuzzed), sorted(fuzzed)
    for key, statuses in fuzzed.items():
        assert sum(statuses.values()) >= 1, key
        assert not any(status >= 500 for status in statuses), (key, statuses)
    assert any(400 <= status < 500 for status in fuzzed[("POST", "/v1/feedback")])
