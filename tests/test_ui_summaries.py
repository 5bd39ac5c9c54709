"""What a person reading the Temporal Web UI sees of a request: each step and the whole request
summed up in plain words, with names an operator chose and never the client's text."""

from __future__ import annotations

import httpx

from tests.conftest import publish_echo_route
from tests.request_history import finished_workflow

EMAIL = "summary.reader@example.com"


async def summaries(stack, request_id: str) -> list[str]:
    """Every step's summary, in the order the history records them."""
    history = await (await finished_workflow(stack.client, request_id)).fetch_history()
    payloads = [
        event.user_metadata.summary
        for event in history.events
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
    ]
    decoded = await stack.client.data_converter.decode(payloads)
    return [str(text) for text in decoded]


async def test_steps_and_request_are_summed_up_without_user_text(stack) -> None:
    route = publish_echo_route(stack.engine, "summarised")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions",
            json={"model": route, "messages": [{"role": "user", "content": f"Mail {EMAIL}"}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    steps = await summaries(stack, request_id)
    # Admission is the workflow's input (the gateway admits a request before starting it).
    assert steps == [
        "call simulated/sim-fast, variant baseline (primary); "
        "settle: check the output, record the outcome",
    ]
    metadata = await stack.client.get_workflow_handle(request_id).query(
        "__temporal_workflow_metadata"
    )
    details = metadata.current_details
    assert details.startswith("summarised -> baseline (simulated/sim-fast): ok in ")
    assert "tokens" in details and EMAIL not in details
    assert not [s for s in steps if EMAIL in s]
