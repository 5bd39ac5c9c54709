"""What RequestWorkflow hands to settling: the arm's outcome row (status and guardrail action
left to settle) and everything the output checks need.

Workflow code: pure, deterministic, no state of its own.
"""

from __future__ import annotations

from datetime import datetime

from contracts.chat import ChatResponse
from contracts.guardrails import GuardrailPolicy, InputCheckResult
from contracts.outcome import OutcomeRecord, answered
from contracts.request import RequestError, RequestInput
from contracts.routing import RouteTarget
from contracts.steps import BedrockCheckResult, SettleInput, expectations_of


def settle_input(
    request: RequestInput,
    route: str,
    target: RouteTarget,
    arm: str,
    checked: InputCheckResult,
    policy: GuardrailPolicy,
    started: datetime,
    finished: datetime,
    response: ChatResponse | None = None,
    error: RequestError | None = None,
    output_bedrock: BedrockCheckResult | None = None,
    failed_arms: list[OutcomeRecord] | None = None,
) -> SettleInput:
    admitted = request.admitted
    assigned = None if admitted is None else admitted.experiment
    outcome = OutcomeRecord(
        request_id=request.request_id,
        arm=arm,  # type: ignore[arg-type]
        tenant_id=request.tenant_id,
        route=route,
        variant=target.variant,
        provider=target.provider,
        model=target.model,
        status="ok",  # decided by settle
        error_class=None if error is None else error.code,
        latency_ms=(finished - started).total_seconds() * 1000,
        started_at=started,
        finished_at=finished,
        cache_hit=admitted is not None and admitted.cached is not None,
        routing_reason=None if admitted is None else admitted.route.reason,
        user_hash=request.user_hash,
        experiment=None if assigned is None else assigned.experiment,
        experiment_arm=None if assigned is None else assigned.arm,
        experiment_unit=None if assigned is None else assigned.unit,
    )
    return SettleInput(
        outcome=outcome if response is None else answered(outcome, response, finished),
        response=response,
        error_code=None if error is None else error.code,
        policy=policy,
        vault=checked.vault,
        input_verdict=checked.verdict,
        output_bedrock=output_bedrock,
        failed_arms=failed_arms or [],
        budgeted=admitted is not None and admitted.budgeted,
        cache_key=None if admitted is None else admitted.cache_key,
        cache_ttl_seconds=None
        if admitted is None or admitted.route.cache is None
        else admitted.route.cache.ttl_seconds,
        expects=expectations_of(checked.chat),
    )


def for_arm(
    settle: SettleInput, target: RouteTarget, arm: str, failed_arms: list[OutcomeRecord]
) -> SettleInput:
    """`settle` for another arm of the same request, after the arms that failed before it."""
    outcome = settle.outcome.model_copy(
        update={
            "arm": arm,
            "variant": target.variant,
            "provider": target.provider,
            "model": target.model,
        }
    )
    return settle.model_copy(update={"outcome": outcome, "failed_arms": list(failed_arms)})
