"""The provider calls of one request: the chosen variant, then the route's others in fallback
order, each retried by Temporal, all within the request's own deadline.

Workflow code, kept apart from RequestWorkflow's flow (workflows/request.py): deterministic, with
no state of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

from activities.provider_calls import ProviderActivities
from activities.request_steps import RequestStepActivities
from activities.streaming import CLIENT_GONE, StreamingActivities
from contracts.chat import ChatResponse
from contracts.guardrails import GuardrailPolicy, InputCheckResult
from contracts.outcome import OutcomeRecord
from contracts.request import (
    REQUEST_DEADLINE_PASSED,
    CallAndSettle,
    ProviderCallInput,
    RequestError,
    RequestInput,
    StreamOutputCheck,
)
from contracts.routing import RouteTarget, prompted
from contracts.steps import SettleInput, SettleResult
from guardrails.enforcement import streams_live
from guardrails.stream_guard import needs_guard
from workflows.selection import arm_name, fallback_chain, next_fallback
from workflows.settling import for_arm
from workflows.step_options import (
    MIN_CALL_TIME,
    PROVIDER_CALL_TIMEOUT,
    PROVIDER_RETRY,
    SETTLE_TIME,
)
from workflows.summaries import SETTLE_SUMMARY

# Streamed answers pass through the route's output checks as they go out (they used to be sent
# whole wherever output checks could redact or block).
STREAM_THROUGH_OUTPUT_CHECKS = "stream-through-output-checks"

# How each provider failure type reaches the client.
_ERROR_MAP: dict[str, tuple[str, int]] = {
    "ProviderRateLimited": ("rate_limit_error", 429),
    "ProviderBadRequest": ("invalid_request_error", 400),
    "ContextWindowExceeded": ("invalid_request_error", 400),
    "ContentPolicyRefusal": ("invalid_request_error", 400),
    "UnknownModel": ("invalid_request_error", 404),
    # Nobody is left to answer; 499 is what proxies log for a request its client abandoned.
    CLIENT_GONE: ("client_closed", 499),
    # Anything else (upstream 5xx, auth failures on the gateway's own credentials, malformed or
    # interrupted answers) is the upstream's fault, not the client's: 502.
}


# What the provider calls came to: the answer or the error, and the arm and variant that gave it,
# after the arms that failed before it; and the settling, when the answering call settled too.
ChainOutcome = tuple[
    "ChatResponse | None",
    "RequestError | None",
    str,
    RouteTarget,
    list[OutcomeRecord],
    "SettleResult | None",
]


async def call_providers(
    request: RequestInput,
    route: str,
    chosen: RouteTarget,
    targets: list[RouteTarget],
    checked: InputCheckResult,
    policy: GuardrailPolicy,
    deadline: datetime | None,
    settle: SettleInput | None = None,
) -> ChainOutcome:
    """The provider calls: each variant is retried by Temporal first; when one still fails, the
    route's next variant may answer instead, and the failed arm keeps its own outcome row so that
    a failing candidate still counts against it. Nothing starts past the request's deadline.

    With `settle` (the chosen arm's settling, without the answer), each call is a local step that
    also settles once its provider answers (RequestStepActivities.call_and_settle)."""
    chain = fallback_chain(targets, chosen)
    streaming, output_check = _streaming(request, policy, checked.vault)
    failed_arms: list[OutcomeRecord] = []
    response, error, settled = None, None, None
    index = 0
    if _time_left(deadline) < MIN_CALL_TIME:
        return None, REQUEST_DEADLINE_PASSED, arm_name(0), chosen, [], None
    while True:
        target, arm_started = chain[index], workflow.now()
        budget = None if deadline is None else deadline - arm_started
        call = ProviderCallInput(
            request_id=request.request_id,
            target=target,
            chat=prompted(checked.chat, target),
            output_check=output_check,
        )
        try:
            if streaming:
                response = await workflow.execute_activity_method(
                    StreamingActivities.stream_provider,
                    call,
                    task_queue=request.stream_task_queue,
                    # A stream can only be served by the gateway holding its client; if that
                    # gateway is gone, so is the client: give up rather than wait for it.
                    schedule_to_start_timeout=timedelta(
                        seconds=request.stream_start_timeout_seconds
                    ),
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    schedule_to_close_timeout=budget,
                    heartbeat_timeout=timedelta(seconds=request.stream_heartbeat_timeout_seconds),
                    retry_policy=PROVIDER_RETRY,
                    summary=call_summary(target, index, streamed=True),
                )
            elif settle is not None:
                answered = await workflow.execute_local_activity_method(
                    RequestStepActivities.call_and_settle,
                    CallAndSettle(
                        call=call, settle=for_arm(settle, target, arm_name(index), failed_arms)
                    ),
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    schedule_to_close_timeout=budget,
                    retry_policy=PROVIDER_RETRY,
                    summary=f"{call_summary(target, index, streamed=False)}; {SETTLE_SUMMARY}",
                )
                response, settled = answered.response, answered.settled
            elif request.provider_call_in_task:
                # Retried inside the task too: the retry policy's waits are far below the local
                # retry threshold, so no timer and no second workflow task.
                record = await workflow.execute_local_activity_method(
                    ProviderActivities.call_provider_in_task,
                    call,
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    schedule_to_close_timeout=budget,
                    retry_policy=PROVIDER_RETRY,
                    summary=call_summary(target, index, streamed=False),
                )
                response = record.response
            else:
                response = await workflow.execute_activity_method(
                    ProviderActivities.call_provider,
                    call,
                    task_queue=request.provider_task_queue,
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    schedule_to_close_timeout=budget,
                    retry_policy=PROVIDER_RETRY,
                    summary=call_summary(target, index, streamed=False),
                )
            error = None
            break
        except (ActivityError, ApplicationError, TimeoutError) as exc:
            # A local step's failure can arrive unwrapped, without the ActivityError around it.
            error = request_error_of(exc.cause if isinstance(exc, ActivityError) else exc)
        following = next_fallback(chain, index, error.code)
        # Past the deadline the chain stops with this arm's own error as the request's.
        if following is None or _time_left(deadline) < MIN_CALL_TIME:
            break
        failed_arms.append(
            _failed_arm(request, route, target, arm_name(index), error, arm_started, workflow.now())
        )
        index = following
    return response, error, arm_name(index), target, failed_arms, settled


def call_summary(target: RouteTarget, index: int, streamed: bool) -> str:
    """What the Web UI shows for a provider call: names an operator chose, never user text."""
    how = "streamed" if streamed else "call"
    return f"{how} {target.provider}/{target.model}, variant {target.variant} ({arm_name(index)})"


def _streaming(
    request: RequestInput, policy: GuardrailPolicy, vault: dict[str, str]
) -> tuple[bool, StreamOutputCheck | None]:
    """Whether the answer streams, and the output check it streams through."""
    if request.stream_task_queue is None:
        return False, None
    if not workflow.patched(STREAM_THROUGH_OUTPUT_CHECKS):
        # Requests started before output checks could run on a stream: such a route got its
        # answer whole, checked by settle.
        return streams_live(policy), None
    if policy.bedrock is not None:
        return False, None  # Bedrock's guardrail checks an answer whole
    if not needs_guard(policy, vault):
        return True, None
    return True, StreamOutputCheck(
        policy=policy.output, vault=vault, restore_output=policy.restore_output
    )


def _time_left(deadline: datetime | None) -> timedelta:
    return timedelta.max if deadline is None else deadline - workflow.now()


def request_deadline(request: RequestInput) -> tuple[datetime | None, timedelta | None]:
    """When provider calls must stop, and how long settling may then take."""
    timeout = (
        timedelta(seconds=request.deadline_seconds)
        if request.deadline_seconds is not None
        else workflow.info().execution_timeout
    )
    if timeout is None:
        return None, None
    settle_time = min(SETTLE_TIME, timeout / 5)
    # From when the workflow was started, not from this run's first task (`start_time`): a
    # request picked up again after its gateway died must not be given its whole time anew.
    return workflow.info().workflow_start_time + timeout - settle_time, settle_time


def _failed_arm(
    request: RequestInput,
    route: str,
    target: RouteTarget,
    arm: str,
    error: RequestError,
    started: datetime,
    finished: datetime,
) -> OutcomeRecord:
    return OutcomeRecord(
        request_id=request.request_id,
        arm=arm,
        tenant_id=request.tenant_id,
        route=route,  # type: ignore[arg-type]
        variant=target.variant,
        provider=target.provider,
        model=target.model,
        status="error",
        error_class=error.code,
        latency_ms=(finished - started).total_seconds() * 1000,
        started_at=started,
        finished_at=finished,
    )


def request_error_of(cause: BaseException | None) -> RequestError:
    if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
        # Only a stream's private queue has this timeout: the gateway holding the client is
        # gone, and the client with it.
        return RequestError(
            type="client_closed",
            message="the gateway holding the client's connection is gone",
            http_status=499,
            code=CLIENT_GONE,
        )
    if isinstance(cause, TimeoutError):
        return RequestError(
            type="timeout",
            message="the provider did not answer in time",
            http_status=504,
            code="ProviderTimeout",
        )
    error_class = (
        cause.type if isinstance(cause, ApplicationError) and cause.type else "ProviderError"
    )
    kind, status = _ERROR_MAP.get(error_class, ("provider_error", 502))
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    return RequestError(type=kind, message=message, http_status=status, code=error_class)  # type: ignore[arg-type]
