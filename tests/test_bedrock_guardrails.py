"""The Bedrock Guardrails backend: real boto3 against a local ApplyGuardrail server."""

from __future__ import annotations

import httpx
import pytest

from activities.bedrock_guardrails import BedrockGuardrailError, _client, apply_guardrail
from contracts.guardrails import BedrockGuardrail, GuardrailPolicy
from contracts.routing import RouteTarget
from store.guardrails import set_route_policy
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from tests.bedrock_guardrail_server import BedrockGuardrailServer
from tests.conftest import publish_echo_route
from tests.request_history import provider_calls
from tests.test_guardrails_path import provider_chat, tool


@pytest.fixture(scope="module")
def bedrock():
    with BedrockGuardrailServer() as server:
        yield server


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch):
    # boto3's standard chain reads these; the local server only checks that a signature is sent.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _client.cache_clear()
    yield
    _client.cache_clear()


def guardrail(server: BedrockGuardrailServer, guardrail_id: str) -> BedrockGuardrail:
    return BedrockGuardrail(
        guardrail_id=guardrail_id,
        guardrail_version="3",
        region="us-east-1",
        endpoint_url=server.url,
    )


def test_masking_is_folded_into_findings(bedrock) -> None:
    verdict = apply_guardrail(
        guardrail(bedrock, "pii-mask"), "INPUT", ["mail ada@example.com now", "no pii here"]
    )
    assert verdict.intervened and not verdict.blocked
    assert verdict.texts == ["mail {EMAIL} now", "no pii here"]
    assert [(f.type, f.count, f.action) for f in verdict.findings] == [
        ("EMAIL_ADDRESS", 1, "redact")
    ]
    request = bedrock.requests[-1]
    assert request["path"] == "/guardrail/pii-mask/version/3/apply"
    assert request["body"] == {
        "source": "INPUT",
        "content": [
            {"text": {"text": "mail ada@example.com now"}},
            {"text": {"text": "no pii here"}},
        ],
    }
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_blocked_topic_blocks_with_a_reason(bedrock) -> None:
    verdict = apply_guardrail(
        guardrail(bedrock, "deny-topic"), "OUTPUT", ["Here is some investment advice"]
    )
    assert verdict.blocked and "topic" in verdict.reason
    assert not apply_guardrail(guardrail(bedrock, "deny-topic"), "OUTPUT", ["hello"]).intervened


@pytest.mark.parametrize(("guardrail_id", "retryable"), [("throttled", True), ("denied", False)])
def test_errors_are_typed_and_say_whether_to_retry(bedrock, guardrail_id, retryable) -> None:
    before = len(bedrock.requests)
    with pytest.raises(BedrockGuardrailError) as failure:
        apply_guardrail(guardrail(bedrock, guardrail_id), "INPUT", ["text"])
    assert failure.value.retryable is retryable
    assert len(bedrock.requests) == before + 1  # the SDK did not retry on its own


async def test_a_route_with_a_bedrock_guardrail(stack, bedrock) -> None:
    publish_echo_route(
        stack.engine, "bedrock-guarded", GuardrailPolicy(bedrock=guardrail(bedrock, "pii-mask"))
    )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:

        async def ask(route: str, content: str) -> httpx.Response:
            return await http.post(
                "/v1/chat/completions",
                json={"model": route, "messages": [{"role": "user", "content": content}]},
                headers={"Authorization": f"Bearer {stack.api_key}"},
            )

        masked = await ask("bedrock-guarded", "write to ada@example.com")
        assert masked.status_code == 200, masked.text
        assert masked.json()["choices"][0]["message"]["content"] == "write to {EMAIL}"
        assert masked.headers["x-interlock-guardrails"] == "redact"

        publish_echo_route(
            stack.engine,
            "bedrock-denies",
            GuardrailPolicy(bedrock=guardrail(bedrock, "deny-topic")),
        )
        blocked = await ask("bedrock-denies", "I need investment advice")
        assert blocked.status_code == 400
        assert blocked.json()["error"]["code"] == "content_filter"
        assert "Bedrock" in blocked.json()["error"]["message"]

        publish_echo_route(
            stack.engine,
            "bedrock-throttled",
            GuardrailPolicy(bedrock=guardrail(bedrock, "throttled")),
        )
        unavailable = await ask("bedrock-throttled", "hello")
        assert unavailable.status_code == 503
        assert unavailable.json()["error"]["code"] == "guardrails_unavailable"
        [row] = outcomes_for_request(stack.engine, unavailable.headers["x-request-id"])
        assert (row.status, row.error_class) == ("error", "guardrails_unavailable")


@pytest.mark.parametrize("guardrail_id", ["pii-mask-fewer-outputs", "pii-mask-more-outputs"])
@pytest.mark.parametrize(
    "texts", [["mail ada@example.com now"], ["mail ada@example.com now", "no pii here"]]
)
def test_masked_texts_that_cannot_be_mapped_back_are_an_error(
    bedrock, guardrail_id: str, texts: list[str]
) -> None:
    with pytest.raises(BedrockGuardrailError) as failure:
        apply_guardrail(guardrail(bedrock, guardrail_id), "INPUT", texts)
    assert failure.value.retryable is False
    assert "ada@example.com" not in str(failure.value)
    assert len(bedrock.requests[-1]["body"]["content"]) == len(texts)


def test_a_block_answered_with_one_message_for_several_texts_is_still_a_block(bedrock) -> None:
    texts = ["Here is some investment advice", "and more", "and more still"]
    verdict = apply_guardrail(guardrail(bedrock, "deny-topic"), "OUTPUT", texts)
    assert verdict.blocked and verdict.texts == texts


@pytest.mark.parametrize("guardrail_id", ["pii-mask-fewer-outputs", "pii-mask-more-outputs"])
async def test_a_route_fails_closed_when_bedrock_returns_another_number_of_texts(
    stack, bedrock, guardrail_id: str
) -> None:
    route = f"bedrock-{guardrail_id}"
    publish_route(
        stack.engine,
        route,
        [
            RouteTarget(
                variant="baseline",
                provider="simulated",
                model="sim-fast",
                options={"echo": True, "error_rate": 0.0},
            )
        ],
    )
    set_route_policy(stack.engine, route, GuardrailPolicy(bedrock=guardrail(bedrock, guardrail_id)))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        response = await http.post(
            "/v1/chat/completions",
            json={
                "model": route,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "write to ada@example.com"},
                ],
            },
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "guardrails_unavailable"
    assert "ada@example.com" not in response.text
    request_id = response.headers["x-request-id"]
    assert await provider_calls(stack.client, request_id) == []
    [row] = outcomes_for_request(stack.engine, request_id)
    assert (row.status, row.error_class) == ("error", "guardrails_unavailable")


async def test_bedrock_checks_tool_calls_and_tool_results_both_ways(stack, bedrock) -> None:
    publish_echo_route(
        stack.engine, "bedrock-tools", GuardrailPolicy(bedrock=guardrail(bedrock, "pii-mask"))
    )
    messages = [
        {"role": "user", "content": "Mail the customer"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "mail", "arguments": '{"to": "ada@example.com"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "mailed ada@example.com"},
        {"role": "user", "content": "Now write to the next one"},
    ]
    before = len(bedrock.requests)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:
        response = await http.post(
            "/v1/chat/completions",
            json={
                "model": "bedrock-tools",
                "messages": messages,
                "tools": [tool("bob@example.com")],
            },
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 200, response.text
    [call] = response.json()["choices"][0]["message"]["tool_calls"]
    assert call["function"]["arguments"] == '{"{EMAIL}": "example"}'
    # Bedrock saw every text but the empty content of the tool-calling turn, each in its place.
    checked_input, checked_output = (r["body"] for r in bedrock.requests[before:])
    assert checked_input["source"] == "INPUT"
    assert [block["text"]["text"] for block in checked_input["content"]] == [
        "Mail the customer",
        '{"to": "ada@example.com"}',
        "mailed ada@example.com",
        "Now write to the next one",
    ]
    assert checked_output["source"] == "OUTPUT"
    assert [b["text"]["text"] for b in checked_output["content"]] == [
        '{"bob@example.com": "example"}'
    ]
    chat = await provider_chat(stack, response.json()["id"])
    assert chat["messages"][1]["tool_calls"][0]["arguments"] == '{"to": "{EMAIL}"}'
    assert chat["messages"][2]["content"] == "mailed {EMAIL}"
    assert chat["tools"][0]["name"] == "act"  # a masked request keeps its tools


def test_empty_texts_are_not_sent_and_every_text_keeps_its_place(bedrock) -> None:
    texts = ["", "mail ada@example.com now", "", "no pii here"]
    verdict = apply_guardrail(guardrail(bedrock, "pii-mask"), "OUTPUT", texts)
    assert verdict.texts == ["", "mail {EMAIL} now", "", "no pii here"]
    assert [b["text"]["text"] for b in bedrock.requests[-1]["body"]["content"]] == [
        "mail ada@example.com now",
        "no pii here",
    ]
    before = len(bedrock.requests)
    assert apply_guardrail(guardrail(bedrock, "pii-mask"), "OUTPUT", ["", ""]).texts == ["", ""]
    assert len(bedrock.requests) == before
