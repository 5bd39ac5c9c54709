"""The provider call that settles in the same local step: an answer the store cannot take is
handed back unsettled, never lost and never paid for twice by a retry of the step."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine
from temporalio.testing import ActivityEnvironment

from activities.admission import Admission
from activities.flags import Flags, route_kill
from activities.provider_calls import ProviderActivities
from activities.providers import ProviderRegistry
from activities.providers.simulated import SimulatedProvider
from activities.request_steps import RequestStepActivities
from contracts.chat import ChatMessage, ChatRequest
from contracts.guardrails import Verdict
from contracts.outcome import OutcomeRecord
from contracts.request import CallAndSettle, ProviderCallInput
from contracts.routing import RouteTarget
from contracts.steps import AdmitInput, SettleInput
from guardrails.registry import default_registry
from store.outcomes import outcomes_for_request
from store.routes import publish_route

TARGET = RouteTarget(
    variant="baseline", provider="simulated", model="sim-fast", options={"error_rate": 0.0}
)
CHAT = ChatRequest(messages=[ChatMessage(role="user", content="hello")])


def step(request_id: str) -> CallAndSettle:
    now = datetime.now(UTC)
    return CallAndSettle(
        call=ProviderCallInput(request_id=request_id, target=TARGET, chat=CHAT),
        settle=SettleInput(
            outcome=OutcomeRecord(
                request_id=request_id,
                tenant_id="demo",
                route="chat",
                variant="baseline",
                provider="simulated",
                model="sim-fast",
                status="ok",
                started_at=now,
                finished_at=now,
            ),
            input_verdict=Verdict(),
        ),
    )


def steps_on(engine) -> RequestStepActivities:
    registry = ProviderRegistry([SimulatedProvider(seed=0, latency_scale=0.0)])
    scanner = default_registry()
    return RequestStepActivities(
        engine, Admission(engine, registry, scanner), scanner, ProviderActivities(registry)
    )


async def test_the_answer_and_its_row_in_one_step(engine) -> None:
    result = await ActivityEnvironment().run(steps_on(engine).call_and_settle, step("req-one"))
    assert result.settled is not None and result.settled.status == "ok"
    assert result.sent.target == TARGET
    [row] = outcomes_for_request(engine, "req-one")
    assert (row.status, row.tokens_out) == ("ok", result.response.usage.output_tokens)
    assert row.tokens_out > 0 and row.latency_ms == result.response.latency_ms


async def test_an_unwritable_store_hands_the_answer_back_unsettled(tmp_path) -> None:
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'interlock.db'}")
    result = await ActivityEnvironment().run(steps_on(broken).call_and_settle, step("req-two"))
    # The step succeeds with the answer, so nothing retries the provider call; the workflow
    # settles it in a step of its own.
    assert result.settled is None
    assert result.response.text


async def test_the_legacy_admit_step_answers_a_killed_route_rather_than_retrying(engine) -> None:
    """Requests started before gateways admitted them run admission as a step: a kill switch
    there is an answer (the route's error), not a failure retried until the request times out."""
    publish_route(
        engine, "legacy", [RouteTarget(variant="a", provider="simulated", model="sim-fast")]
    )
    Flags(engine, {}).set(route_kill("legacy"), True, "tester")
    admitted = await ActivityEnvironment().run(
        steps_on(engine).admit,
        AdmitInput(
            request_id="req-legacy",
            tenant_id="acme",
            model="legacy",
            chat=ChatRequest(messages=[ChatMessage(role="user", content="hi")]),
        ),
    )
    assert admitted.route.error == "route 'legacy' is switched off (kill switch)"
