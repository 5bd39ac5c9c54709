"""Output guardrails on streamed answers: checked, redacted and restored before text leaves.

The simulated model echoes the user's message back in pieces of a few characters, as tokenizers
cut words, so findings and placeholders are split across chunks. Every streamed answer must
equal the same request's non-streamed answer, and nothing a finding covers may ever be sent.
"""

from __future__ import annotations

import json

import httpx
import pytest

from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from store.outcomes import outcomes_for_request
from tests import test_guardrails_path as unstreamed
from tests.conftest import publish_echo_route

EMAIL = "ada.lovelace@example.com"
# An AWS secret access key: 40 characters of base64 after its variable name.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCZ9xq2LmNz8h"
ROUTES = {
    # Input e-mail addresses are replaced by placeholders and put back into the answer.
    "restores": GuardrailPolicy(input=DirectionPolicy(actions={"EMAIL_ADDRESS": "redact"})),
    "redacts-secrets": GuardrailPolicy(
        output=DirectionPolicy(actions={"AWS_SECRET_KEY": "redact"})
    ),
    "blocks-secrets": GuardrailPolicy(output=DirectionPolicy(actions={"AWS_SECRET_KEY": "block"})),
}


@pytest.fixture(scope="module")
def routes(stack) -> None:
    for name, policy in ROUTES.items():
        publish_echo_route(stack.engine, name, policy, stream_chunk_chars=3)


async def ask(stack, route: str, content: str, stream: bool) -> tuple[httpx.Response, list[dict]]:
    """The response, and for a stream its events in order."""
    body = {"model": route, "messages": [{"role": "user", "content": content}], "stream": stream}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {stack.api_key}"}
        )
    if not stream:
        return response, []
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]
    return response, events


def pieces(events: list[dict]) -> list[str]:
    return [
        e["choices"][0]["delta"]["content"]
        for e in events
        if e.get("choices") and e["choices"][0]["delta"].get("content")
    ]


def finish_reason(events: list[dict]) -> str | None:
    reasons = [e["choices"][0]["finish_reason"] for e in events if e.get("choices")]
    return next((r for r in reasons if r), None)


async def test_placeholders_split_across_chunks_are_restored(stack, routes) -> None:
    content = f"Please write to {EMAIL} and copy {EMAIL} as well."
    plain, _ = await ask(stack, "restores", content, stream=False)
    assert plain.json()["choices"][0]["message"]["content"] == content
    streamed, events = await ask(stack, "restores", content, stream=True)
    sent = pieces(events)
    # The model saw and repeated <EMAIL_ADDRESS_1>, three characters a chunk; the client gets
    # the address back, and never a fragment of the placeholder.
    assert "".join(sent) == content
    assert not any("<" in piece or ">" in piece for piece in sent)
    assert len(sent) > 5
    [row] = outcomes_for_request(stack.engine, streamed.headers["x-request-id"])
    assert (row.status, row.guardrail_action) == ("ok", "redact")


async def test_a_secret_in_the_answer_is_redacted_before_it_leaves(stack, routes) -> None:
    content = f"Set aws_secret_access_key = {SECRET} and nothing else."
    plain, _ = await ask(stack, "redacts-secrets", content, stream=False)
    expected = plain.json()["choices"][0]["message"]["content"]
    assert SECRET not in expected and "<AWS_SECRET_KEY_1>" in expected
    _, events = await ask(stack, "redacts-secrets", content, stream=True)
    sent = pieces(events)
    assert "".join(sent) == expected
    assert len(sent) > 3  # held back around the key only, not to the end
    # No piece carries any part of the key: each one is a piece of the redacted answer.
    assert not any(piece in SECRET for piece in sent if len(piece) >= 3 and "<" not in piece)
    assert finish_reason(events) == "stop"


async def test_a_blocked_secret_ends_the_stream_before_it(stack, routes) -> None:
    before = "Here it is: aws_secret_access_key = "
    content = f"{before}{SECRET} and some more text after it."
    plain, _ = await ask(stack, "blocks-secrets", content, stream=False)
    choice = plain.json()["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None
    streamed, events = await ask(stack, "blocks-secrets", content, stream=True)
    sent = "".join(pieces(events))
    assert before.startswith(sent) and len(sent) > 0
    assert SECRET[:3] not in sent
    assert finish_reason(events) == "content_filter"
    [row] = outcomes_for_request(stack.engine, streamed.headers["x-request-id"])
    assert (row.status, row.guardrail_action) == ("blocked", "block")


# --- the model's tool calls, streamed: sent whole once checked, as the same request unstreamed ---

tools_route = unstreamed.tools_route  # the fixture: a route with tool-call guardrails
AWS_ACCESS_KEY = unstreamed.SECRET_KEY
TOOL_CASES = {
    # Input values come back into the model's arguments, JSON-escaped.
    "restored": (
        f"Send this key to {EMAIL}:\n{unstreamed.PRIVATE_KEY}",
        ["<EMAIL_ADDRESS_1>", "<PRIVATE_KEY_1>"],
    ),
    "redacted": ("Block the address", ["10.20.30.40"]),
    "blocked": ("Store the key", [AWS_ACCESS_KEY]),
}


def streamed_calls(events: list[dict]) -> list[dict]:
    calls: dict[int, dict] = {}
    for event in events:
        for delta in (event.get("choices") or [{}])[0].get("delta", {}).get("tool_calls") or []:
            call = calls.setdefault(delta["index"], {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.get("id") or call["id"]
            call["name"] += delta["function"].get("name") or ""
            call["arguments"] += delta["function"].get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("case", sorted(TOOL_CASES))
async def test_streamed_tool_calls_are_checked_like_whole_ones(stack, tools_route, case) -> None:
    content, keys = TOOL_CASES[case]
    body = {
        "model": tools_route,
        "messages": [{"role": "user", "content": content}],
        "tools": [unstreamed.tool(*keys)],
    }
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {stack.api_key}"}
        plain = await http.post("/v1/chat/completions", json=body, headers=headers)
        streamed = await http.post(
            "/v1/chat/completions", json={**body, "stream": True}, headers=headers
        )
    choice = plain.json()["choices"][0]
    events = [
        json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    expected = [
        (c["function"]["name"], c["function"]["arguments"])
        for c in choice["message"].get("tool_calls") or []
    ]
    calls = streamed_calls(events)  # call ids derive from each request's own id
    assert [(c["name"], c["arguments"]) for c in calls] == expected
    assert all(c["id"].startswith("call_") for c in calls)
    assert finish_reason(events) == choice["finish_reason"]
    if case == "blocked":
        assert choice["finish_reason"] == "content_filter" and not expected
        assert AWS_ACCESS_KEY not in streamed.text
    else:
        assert expected and choice["finish_reason"] == "tool_calls"
