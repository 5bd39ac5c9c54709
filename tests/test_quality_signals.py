"""Quality signals: people's feedback (POST /v1/feedback, tenant-checked) and the automatic
scores on every answered outcome row, through the running stack and in the per-arm totals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from activities.answer_scores import score_answer
from contracts.chat import ChatResponse, ToolCall
from contracts.steps import AnswerExpectations
from store.feedback import rating_of
from store.outcomes import outcomes_for_request
from store.rollout_stats import experiment_totals
from store.tenants import add_api_key, ensure_tenant
from tests.experiment_helpers import ask_as, new_experiment

PLACE = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def answer(text: str = "", **fields: object) -> ChatResponse:
    return ChatResponse(provider="p", model="m", text=text, **fields)


@pytest.mark.parametrize(
    ("text", "schema", "valid"),
    [
        ('{"city": "Oslo"}', PLACE, True),
        ('{"town": "Oslo"}', PLACE, False),  # misses a required property
        ('{"city": 4}', PLACE, False),
        ("Oslo", None, False),  # not JSON
        ("[1, 2]", None, False),  # json_object asks for an object
        ('{"any": "thing"}', None, True),
    ],
)
def test_json_answers_are_checked_against_what_was_asked(text, schema, valid) -> None:
    expects = AnswerExpectations(json_answer=True, json_schema=schema)
    assert score_answer(answer(text), expects).json_valid is valid
    assert score_answer(answer(text), None).json_valid is None  # no JSON asked for


def test_tool_calls_must_name_an_offered_tool_with_valid_arguments() -> None:
    offered = AnswerExpectations(tools={"get_weather": WEATHER})

    def calls(*pairs: tuple[str, str]) -> ChatResponse:
        made = [ToolCall(id=f"c{i}", name=n, arguments=a) for i, (n, a) in enumerate(pairs)]
        return answer(tool_calls=made, finish_reason="tool_calls")

    assert score_answer(calls(("get_weather", '{"city": "Oslo"}')), offered).tool_calls_valid
    assert not score_answer(calls(("get_weather", "{}")), offered).tool_calls_valid
    assert not score_answer(calls(("get_weather", "not json")), offered).tool_calls_valid
    assert not score_answer(calls(("launch", '{"city": "Oslo"}')), offered).tool_calls_valid
    assert score_answer(answer("no calls"), offered).tool_calls_valid is None


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("I'm sorry, but I can't help with that request.", True),
        ("I cannot assist with creating malware.", True),
        ("As an AI language model, I cannot browse the internet.", True),
        ("Sure! Paris is the capital of France.", False),
        ("I can't wait to show you: here are three options.", False),
        ("Sorry for the delay! Here is the summary you asked for.", False),
    ],
)
def test_refusals_are_recognised_in_the_opening(text: str, refused: bool) -> None:
    assert score_answer(answer(text), None).refused is refused
    assert score_answer(answer(text), None).answer_chars == len(text)


def test_a_content_filter_is_a_refusal() -> None:
    assert score_answer(answer("", finish_reason="content_filter"), None).refused


async def test_answered_rows_carry_their_scores(stack, sdk) -> None:
    completion = await sdk.chat.completions.create(
        model="simulated/sim-fast",
        messages=[{"role": "user", "content": "Where?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PLACE}},
    )
    [row] = outcomes_for_request(stack.engine, completion.id)
    assert (row.json_valid, row.refused, row.tool_calls_valid) == (True, False, None)
    assert row.answer_chars == len(completion.choices[0].message.content)
    tooled = await sdk.chat.completions.create(
        model="simulated/sim-fast",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
    )
    [row] = outcomes_for_request(stack.engine, tooled.id)
    assert (row.tool_calls_valid, row.json_valid) == (True, None)


async def test_feedback_is_kept_for_the_tenants_own_requests_only(stack, sdk) -> None:
    completion = await sdk.chat.completions.create(
        model="simulated/sim-fast", messages=[{"role": "user", "content": "hi"}]
    )
    other = f"feedback-{uuid.uuid4().hex[:8]}"
    ensure_tenant(stack.engine, other)
    other_key = add_api_key(stack.engine, other)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:

        async def post(body: dict, key: str = stack.api_key) -> httpx.Response:
            return await http.post(
                "/v1/feedback", json=body, headers={"Authorization": f"Bearer {key}"}
            )

        up = await post({"request_id": completion.id, "thumbs": "up"})
        assert up.status_code == 200, up.text
        assert up.json() == {
            "object": "feedback",
            "request_id": completion.id,
            "kind": "thumbs",
            "value": 1.0,
        }
        again = await post({"request_id": completion.id, "score": 0.25})
        assert again.status_code == 200 and again.json()["value"] == 0.25
        stranger = await post({"request_id": completion.id, "thumbs": "down"}, other_key)
        assert stranger.status_code == 404
        assert stranger.json()["error"]["code"] == "request_not_found"
        unknown = await post({"request_id": "chatcmpl-nothing", "thumbs": "down"})
        assert unknown.status_code == 404
        both = await post({"request_id": completion.id, "thumbs": "up", "score": 1})
        assert both.status_code == 400 and "exactly one" in both.text
        anonymous = await http.post("/v1/feedback", json={"request_id": completion.id})
        assert anonymous.status_code == 401
    rating = rating_of(stack.engine, completion.id)
    assert rating is not None and (rating.value, rating.kind) == (0.25, "score")


async def test_feedback_joins_the_per_arm_totals(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    rated: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        for i in range(12):
            arm, request_id = await ask_as(sdk, route, f"rater-{i}")
            value = 1.0 if arm == "smart" else 0.0
            rated.setdefault(arm, []).append(value)
            response = await http.post(
                "/v1/feedback",
                json={"request_id": request_id, "thumbs": "up" if value else "down"},
                headers={"Authorization": f"Bearer {stack.api_key}"},
            )
            assert response.status_code == 200
    totals = experiment_totals(stack.engine, route, ["control", "smart"])
    for arm, values in rated.items():
        assert totals[arm].feedback.n == len(values)
        assert totals[arm].feedback.mean == pytest.approx(sum(values) / len(values))
        assert totals[arm].refused.n == len(values)
