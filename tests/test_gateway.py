"""The request path end to end: OpenAI client, gateway, RequestWorkflow, provider, outcome."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from contracts.chat import ChatMessage, ChatRequest
from contracts.request import RequestInput
from contracts.routing import RouteTarget
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from tests.request_history import finished_workflow, listed, provider_calls
from workflows import search_attributes
from workflows.request import RequestWorkflow


def chat_body(model: str = "chat", content: str = "Hello") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


async def test_openai_client_gets_a_completion(stack, sdk) -> None:
    completion = await sdk.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Say hello"}], max_tokens=50
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "simulated/sim-fast"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens <= 50

    rows = outcomes_for_request(stack.engine, completion.id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.tenant_id, row.route, row.variant) == ("demo", "chat", "baseline")
    assert (row.provider, row.model, row.status, row.arm) == (
        "simulated",
        "sim-fast",
        "ok",
        "primary",
    )
    assert (row.tokens_in, row.tokens_out) == (usage.prompt_tokens, usage.completion_tokens)
    assert row.cost_usd > 0

    # The workflow id is the request id, and it is findable by our search attributes.
    description = await (await finished_workflow(stack.client, completion.id)).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    attributes = description.typed_search_attributes
    assert attributes.get(search_attributes.TENANT) == "demo"
    assert attributes.get(search_attributes.ROUTE) == "chat"
    assert attributes.get(search_attributes.PROVIDER) == "simulated"
    assert attributes.get(search_attributes.MODEL) == "sim-fast"
    # Only a request that did not end ok carries a status: the ones worth a search.
    assert attributes.get(search_attributes.STATUS) is None
    # Everything it carries was set at start: the run's history has no upsert.
    events = [
        event
        async for event in stack.client.get_workflow_handle(completion.id).fetch_history_events()
    ]
    assert not [
        e for e in events if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    # How the docs say to find ok requests in the Web UI.
    assert await listed(
        stack.client,
        f'WorkflowId = "{completion.id}" AND ExecutionStatus = "Completed" '
        "AND InterlockStatus IS NULL",
        completion.id,
    )


async def test_models_lists_routes_and_models_with_what_they_can_do(stack, sdk) -> None:
    cards = {m.id: m.model_dump() for m in (await sdk.models.list()).data}
    chat = cards["chat"]
    assert chat["kind"] == "route" and chat["variants"]
    assert chat["capabilities"]["tools"] and chat["capabilities"]["streaming"]
    assert chat["capabilities"]["routing"] == "weighted"
    fast = cards["simulated/sim-fast"]
    assert (fast["kind"], fast["owned_by"]) == ("model", "simulated")
    assert fast["capabilities"]["context_window"] == 128_000
    assert fast["capabilities"]["tools"] and fast["capabilities"]["structured_output"]
    assert chat["capabilities"]["structured_output"] is True
    assert (
        fast["capabilities"]["input_price_per_mtok"],
        fast["capabilities"]["output_price_per_mtok"],
    ) == (0.15, 0.6)


async def test_explicit_provider_model(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions",
            json=chat_body("simulated/sim-smart"),
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "simulated/sim-smart"
    assert response.headers["x-interlock-variant"] == "explicit"


@pytest.fixture
def always_down_route(stack) -> str:
    """A route whose only variant always fails, published by each test that needs it."""
    publish_route(
        stack.engine,
        "always-down",
        [
            RouteTarget(
                variant="baseline",
                provider="simulated",
                model="sim-flaky",
                options={"error_rate": 1.0},
            )
        ],
    )
    return "always-down"


async def test_provider_failure_is_a_502_with_an_outcome(stack, always_down_route) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions",
            json=chat_body(always_down_route),
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["type"] == "provider_error" and error["code"] == "ProviderUnavailable"
    request_id = response.headers["x-request-id"]
    [row] = outcomes_for_request(stack.engine, request_id)
    assert (row.status, row.error_class) == ("error", "ProviderUnavailable")
    # Three attempts were made (the retry policy), and the workflow itself completed.
    [call] = await provider_calls(stack.client, request_id)
    assert (call.failed, call.attempts) == (True, 3)
    description = await (await finished_workflow(stack.client, request_id)).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


async def test_route_with_an_unservable_variant_is_refused(stack) -> None:
    publish_route(
        stack.engine,
        "misconfigured",
        [RouteTarget(variant="baseline", provider="nowhere", model="x")],
    )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions",
            json=chat_body("misconfigured"),
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 404
    assert "nowhere/x" in response.json()["error"]["message"]


AUTH = "Bearer " + "il-test-" + "k" * 40
BAD_INPUTS = [
    pytest.param(
        {"content": b"{not json", "headers": {"Authorization": AUTH}},
        400,
        "invalid_json",
        id="malformed-json",
    ),
    pytest.param(
        {"content": b"", "headers": {"Authorization": AUTH}}, 400, "invalid_json", id="empty-body"
    ),
    pytest.param(
        {"content": b"\xff\xfe", "headers": {"Authorization": AUTH}},
        400,
        "invalid_json",
        id="not-utf8",
    ),
    pytest.param(
        {"json": [1, 2], "headers": {"Authorization": AUTH}},
        400,
        "invalid_request",
        id="not-an-object",
    ),
    pytest.param(
        {
            "json": {"messages": [{"role": "user", "content": "x"}]},
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="missing-model",
    ),
    pytest.param(
        {"json": {"model": "chat"}, "headers": {"Authorization": AUTH}},
        400,
        "invalid_value",
        id="missing-messages",
    ),
    pytest.param(
        {
            "json": {"model": 42, "messages": [{"role": "user", "content": "x"}]},
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="mistyped-model",
    ),
    pytest.param(
        {
            "json": {"model": "chat", "messages": [{"role": "robot", "content": "x"}]},
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="bad-role",
    ),
    pytest.param(
        {"json": {**chat_body(), "temperature": "hot"}, "headers": {"Authorization": AUTH}},
        400,
        "invalid_value",
        id="mistyped-temp",
    ),
    pytest.param(
        {"json": {**chat_body(), "max_tokens": 0}, "headers": {"Authorization": AUTH}},
        400,
        "invalid_value",
        id="zero-max-tokens",
    ),
    pytest.param(
        {"json": {**chat_body(), "stream": "yes please"}, "headers": {"Authorization": AUTH}},
        400,
        "invalid_value",
        id="mistyped-stream",
    ),
    pytest.param(
        {
            "json": {**chat_body(), "tools": [{"type": "function"}]},
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="tool-without-function",
    ),
    pytest.param(
        {
            "json": {
                **chat_body(),
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="tool-choice-not-offered",
    ),
    pytest.param(
        {
            "json": {
                "model": "chat",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "tool", "tool_call_id": "call_nowhere", "content": "42"},
                ],
            },
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="tool-result-without-call",
    ),
    pytest.param(
        {"json": {**chat_body(), "functions": [{"name": "f"}]}, "headers": {"Authorization": AUTH}},
        400,
        "unsupported_parameter",
        id="legacy-functions",
    ),
    pytest.param(
        {"json": chat_body("no-such-route"), "headers": {"Authorization": AUTH}},
        404,
        "model_not_found",
        id="unknown-route",
    ),
    pytest.param(
        {"json": chat_body("simulated/no-such-model"), "headers": {"Authorization": AUTH}},
        404,
        "model_not_found",
        id="unknown-explicit-model",
    ),
    pytest.param({"json": chat_body()}, 401, "missing_api_key", id="missing-key"),
    pytest.param(
        {"json": chat_body(), "headers": {"Authorization": "Bearer il-wrong"}},
        401,
        "invalid_api_key",
        id="invalid-key",
    ),
    pytest.param(
        {"json": chat_body(), "headers": {"Authorization": "Basic abc"}},
        401,
        "missing_api_key",
        id="wrong-scheme",
    ),
    pytest.param(
        {"json": chat_body(content="x" * 2_000_000), "headers": {"Authorization": AUTH}},
        413,
        "request_too_large",
        id="oversized-body",
    ),
    pytest.param(
        {"content": b'{"model": "\x80"}', "headers": {"Authorization": AUTH}},
        400,
        "invalid_json",
        id="not-utf8-inside-json",
    ),
    pytest.param(
        {"content": b"null", "headers": {"Authorization": AUTH}},
        400,
        "invalid_request",
        id="null-body",
    ),
    pytest.param(
        {
            "content": json.dumps(chat_body()).encode(),
            "headers": {"Authorization": AUTH, "Content-Type": "text/plain"},
        },
        415,
        "unsupported_media_type",
        id="json-sent-as-text",
    ),
    pytest.param(
        {
            "content": json.dumps(chat_body()).encode(),
            "headers": {
                "Authorization": AUTH,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        },
        415,
        "unsupported_media_type",
        id="json-sent-as-form",
    ),
    pytest.param(
        {"json": {**chat_body(), "n": 2}, "headers": {"Authorization": AUTH}},
        400,
        "unsupported_parameter",
        id="n-above-one",
    ),
    pytest.param(
        {
            "json": {**chat_body(), "response_format": {"type": "yaml"}},
            "headers": {"Authorization": AUTH},
        },
        400,
        "invalid_value",
        id="response-format",
    ),
    pytest.param(
        {"json": {"model": 42}},
        401,
        "missing_api_key",
        id="bad-body-and-no-key",  # the key is checked before the body's fields
    ),
    pytest.param(
        {"json": chat_body(), "headers": {"x-api-key": "il-wrong"}},
        401,
        "invalid_api_key",
        id="invalid-x-api-key",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "code"), BAD_INPUTS)
async def test_bad_input_gets_an_openai_error(stack, request_kwargs, status, code) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post("/v1/chat/completions", **request_kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["type"]
    assert set(error) == {"message", "type", "param", "code"}


async def test_validation_errors_name_the_parameter(stack) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": 3}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", json=body, headers={"Authorization": AUTH}
        )
        nested = await http.post(
            "/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "robot", "content": "x"}]},
            headers={"Authorization": AUTH},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"
    assert "temperature" in response.json()["error"]["message"]
    assert nested.json()["error"]["param"] == "messages.0.role"


async def test_x_api_key_header_authenticates(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat_body(), headers={"x-api-key": stack.api_key}
        )
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


async def test_oversized_body_without_content_length_is_refused(stack) -> None:
    async def chunks():
        yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}]}'

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", content=chunks(), headers={"Authorization": AUTH}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_unknown_path_and_method_are_openai_errors(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        missing = await http.get("/v1/nothing-here")
        wrong_method = await http.get("/v1/chat/completions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_no_request_workflow_is_left_running(stack, always_down_route) -> None:
    """After a burst of good and bad requests, every request workflow of the burst has finished."""
    expected = {"chat": 200, "no-such-route": 404, always_down_route: 502}
    models = list(expected) * 4
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/v1/chat/completions", json=chat_body(model), headers={"Authorization": AUTH}
                )
                for model in models
            )
        )
    assert [r.status_code for r in responses] == [expected[model] for model in models]
    # Each answer names its request, whose id is its workflow's: describe reads the workflow's
    # own state (not the eventually consistent visibility store), and only this test's workflows.
    request_ids = {r.headers["x-request-id"]: r.status_code for r in responses}
    assert len(request_ids) == len(models)
    for request_id, status in request_ids.items():
        handle = stack.client.get_workflow_handle(request_id)
        if status == 404:
            # The gateway answers an unknown model itself: no workflow was started.
            with pytest.raises(RPCError) as missing:
                await handle.describe()
            assert missing.value.status == RPCStatusCode.NOT_FOUND
            continue
        description = await (await finished_workflow(stack.client, request_id)).describe()
        assert description.workflow_type == "RequestWorkflow"
        assert description.status == WorkflowExecutionStatus.COMPLETED, request_id


async def test_concurrent_requests_each_record_one_outcome(stack, sdk) -> None:
    completions = await asyncio.gather(
        *(
            sdk.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"{i}"}]
            )
            for i in range(20)
        )
    )
    ids = {c.id for c in completions}
    assert len(ids) == 20
    for request_id in ids:
        assert len(outcomes_for_request(stack.engine, request_id)) == 1


def test_error_body_is_json_serializable_contract() -> None:
    # Guard the wire shape clients parse: {"error": {...}} with exactly these keys.
    from gateway.errors import ApiError, error_response

    body = json.loads(error_response(ApiError(400, "m", code="c", param="p")).body)
    assert body == {
        "error": {"message": "m", "type": "invalid_request_error", "param": "p", "code": "c"}
    }


async def test_by_default_the_whole_request_runs_in_one_workflow_task(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat_body(), headers={"Authorization": AUTH}
        )
    assert response.status_code == 200
    request_id = response.json()["id"]
    [call] = await provider_calls(stack.client, request_id)
    assert (call.how, call.failed) == ("local", False)
    assert call.sent["chat"]["messages"][-1]["content"] == "Hello"
    history = await (await finished_workflow(stack.client, request_id)).fetch_history()
    tasks = [e for e in history.events if e.HasField("workflow_task_completed_event_attributes")]
    assert len(tasks) == 1


async def test_provider_calls_can_run_on_workers_instead(stack) -> None:
    """With provider_calls_in_gateway off, the call goes to `interlock worker`s' queue."""
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    result = await stack.client.execute_workflow(
        RequestWorkflow.run,
        RequestInput(
            request_id=request_id,
            tenant_id="demo",
            model="chat",
            chat=ChatRequest(messages=[ChatMessage(role="user", content="hi")]),
            provider_task_queue=stack.settings.provider_task_queue,
        ),
        id=request_id,
        task_queue=stack.settings.request_task_queue,
        execution_timeout=timedelta(seconds=30),
    )
    assert result.error is None and result.response is not None
    [call] = await provider_calls(stack.client, request_id)
    assert (call.how, call.task_queue) == ("activity", stack.settings.provider_task_queue)
    [row] = outcomes_for_request(stack.engine, request_id)
    assert row.status == "ok"


async def test_tool_call_round_trip_with_the_openai_sdk(stack, sdk) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    first = await sdk.chat.completions.create(model="chat", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 4}'},
    ]
    final = await sdk.chat.completions.create(model="chat", messages=messages, tools=tools)
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls


async def test_prometheus_metrics_count_requests_without_user_input(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        ok = await http.post(
            "/v1/chat/completions", json=chat_body(), headers={"Authorization": AUTH}
        )
        assert ok.status_code == 200
        unknown = await http.post(
            "/v1/chat/completions",
            json=chat_body("made-up-model-name-xyz"),
            headers={"Authorization": AUTH},
        )
        assert unknown.status_code == 404
        scraped = await http.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'interlock_requests_total{code="ok",route="chat",status="ok"}' in text
    assert 'route="unresolved",status="error"' in text
    assert "made-up-model-name-xyz" not in text  # labels never carry what a client typed
    assert 'interlock_request_seconds_bucket{le="0.5",route="chat"}' in text
    assert 'interlock_tokens_total{direction="output",provider="simulated",route="chat"}' in text


async def test_ready_when_temporal_and_the_store_answer(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        ready = await http.get("/readyz")
        live = await http.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "temporal": "ok", "store": "ok"}
    assert live.json() == {"status": "ok"}


async def test_not_ready_says_which_dependency_failed(stack, monkeypatch) -> None:
    def store_down(_engine) -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr("gateway.app.store_answers", store_down)
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        answer = await http.get("/readyz")
        # Liveness does not depend on the store: the process is fine, traffic should wait.
        assert (await http.get("/healthz")).status_code == 200
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not ready",
        "temporal": "ok",
        "store": "unreachable: ConnectionError: connection refused",
    }
