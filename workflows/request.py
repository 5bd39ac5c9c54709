"""RequestWorkflow: one AI request, from admission to the recorded outcome.

It reads top to bottom like the request flow: admit (resolve the route, check the input), call
the provider, settle (check the output, record the outcome). Expected failures (unknown model,
blocked content, provider errors) end the workflow with an error result the gateway turns into an
OpenAI-style error; anything unexpected fails the workflow instead of retrying its task forever,
so no request ever hangs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activities.provider_calls import ProviderActivities
    from activities.request_steps import RequestStepActivities
    from activities.streaming import CLIENT_GONE, StreamingActivities
    from contracts.chat import ChatRequest, ChatResponse
    from contracts.guardrails import GuardrailPolicy, InputCheckResult, Verdict
    from contracts.outcome import OutcomeRecord
    from contracts.request import (
        REQUEST_DEADLINE_PASSED,
        Guardrails,
        ProviderCallInput,
        RequestError,
        RequestInput,
        RequestResult,
        StreamOutputCheck,
    )
    from contracts.routing import RouteTarget
    from contracts.steps import AdmitInput, BedrockCheck, BedrockCheckResult, SettleInput
    from guardrails.chat_texts import request_texts, response_texts, with_request_texts
    from guardrails.enforcement import merge_external, streams_live
    from guardrails.stream_guard import needs_guard
    from workflows import search_attributes
    from workflows.selection import arm_name, fallback_chain, next_fallback, pick_target

LOCAL_STEP = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=50)),
}
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=3,
)
PROVIDER_CALL_TIMEOUT = timedelta(seconds=60)
# Time kept back from the execution timeout for settling, so that a request that runs out of time
# still records its outcome: an unrecorded failure would bias every later decision about its arm.
SETTLE_TIME = timedelta(seconds=5)
# Streamed answers pass through the route's output checks as they go out (they used to be sent
# whole wherever output checks could redact or block).
STREAM_THROUGH_OUTPUT_CHECKS = "stream-through-output-checks"
# Not worth starting a provider call with less time than this left.
MIN_CALL_TIME = timedelta(milliseconds=100)
GUARDRAILS_UNAVAILABLE = RequestError(
    type="service_unavailable",
    message="the route's guardrails could not check this request; it was not processed",
    http_status=503,
    code="guardrails_unavailable",
)

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


# Exceptions that mean a bug in this workflow's code: they fail the request at once rather than
# retry its workflow task until the execution timeout. Deliberately not Exception: that would
# include NondeterminismError, and a worker of a newer version replaying an older request's
# history must leave the task to be retried by a compatible worker, not fail the request.
BUG_EXCEPTIONS: list[type[BaseException]] = [
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    NameError,
    TypeError,
    ValueError,
]


@workflow.defn(name="RequestWorkflow", failure_exception_types=BUG_EXCEPTIONS)
class RequestWorkflow:
    @workflow.run
    async def run(self, request: RequestInput) -> RequestResult:
        started = workflow.now()
        deadline, settle_time = _deadline()
        admitted = await workflow.execute_local_activity_method(
            RequestStepActivities.admit,
            AdmitInput(
                request_id=request.request_id,
                tenant_id=request.tenant_id,
                model=request.model,
                chat=request.chat,
            ),
            **LOCAL_STEP,
        )
        route = admitted.route
        if route.error is not None or admitted.checked is None:
            return RequestResult(
                request_id=request.request_id,
                route=request.model,
                error=RequestError(
                    type="invalid_request_error",
                    message=route.error or "",
                    http_status=404,
                    code="model_not_found",
                ),
            )
        # Only a resolved (hence operator-defined) route name may become a search attribute.
        workflow.upsert_search_attributes([search_attributes.ROUTE.value_set(route.route)])
        target = pick_target(route.targets, request.request_id)
        policy = route.guardrails

        response, error, output_bedrock = None, None, None
        failed_arms: list[OutcomeRecord] = []
        arm = "primary"
        checked, error = await _bedrock_on_input(admitted.checked, policy)
        if error is None and checked.verdict.action == "block":
            error = RequestError(
                type="invalid_request_error",
                message=f"the request was blocked by the route's guardrails: "
                f"{checked.verdict.reason}",
                http_status=400,
                code="content_filter",
            )
        elif error is None:
            call = await _call_providers(
                request, route.route, target, route.targets, checked, policy, deadline
            )
            response, error, arm, target, failed_arms = (
                call.response,
                call.error,
                call.arm,
                call.target,
                call.failed_arms,
            )
        if response is not None and policy.bedrock is not None:
            output_bedrock, error = await _bedrock_check(policy, "OUTPUT", _texts(response))

        finished = workflow.now()
        settled = await workflow.execute_local_activity_method(
            RequestStepActivities.settle,
            SettleInput(
                outcome=OutcomeRecord(
                    request_id=request.request_id,
                    arm=arm,
                    tenant_id=request.tenant_id,
                    route=route.route,
                    variant=target.variant,
                    provider=target.provider,
                    model=target.model,
                    status="ok",  # decided by settle
                    error_class=None if error is None else error.code,
                    latency_ms=(
                        response.latency_ms
                        if response
                        else (finished - started).total_seconds() * 1000
                    ),
                    tokens_in=response.usage.input_tokens if response else 0,
                    tokens_out=response.usage.output_tokens if response else 0,
                    cost_usd=response.cost_usd if response else 0.0,
                    quality_score=response.quality_score if response else None,
                    started_at=started,
                    finished_at=finished,
                ),
                response=response,
                error_code=None if error is None else error.code,
                policy=policy,
                vault=checked.vault,
                input_verdict=checked.verdict,
                output_bedrock=output_bedrock,
                failed_arms=failed_arms,
            ),
            start_to_close_timeout=LOCAL_STEP["start_to_close_timeout"],
            schedule_to_close_timeout=settle_time,
            retry_policy=LOCAL_STEP["retry_policy"],
        )
        workflow.upsert_search_attributes(
            [
                search_attributes.PROVIDER.value_set(target.provider),
                search_attributes.MODEL.value_set(target.model),
                search_attributes.STATUS.value_set(settled.status),
            ]
        )
        return RequestResult(
            request_id=request.request_id,
            route=route.route,
            target=target,
            response=settled.response if error is None else None,
            error=error,
            guardrails=Guardrails(input=checked.verdict, output=settled.output_verdict),
        )


@dataclass
class _ChainOutcome:
    response: ChatResponse | None
    error: RequestError | None
    arm: str
    target: RouteTarget
    failed_arms: list[OutcomeRecord]


async def _call_providers(
    request: RequestInput,
    route: str,
    chosen: RouteTarget,
    targets: list[RouteTarget],
    checked: InputCheckResult,
    policy: GuardrailPolicy,
    deadline: datetime | None,
) -> _ChainOutcome:
    """The provider calls: each variant is retried by Temporal first; when one still fails, the
    route's next variant may answer instead, and the failed arm keeps its own outcome row so that
    a failing candidate still counts against it. Nothing starts past the request's deadline."""
    chain = fallback_chain(targets, chosen)
    streaming, output_check = _streaming(request, policy, checked.vault)
    failed_arms: list[OutcomeRecord] = []
    response, error = None, None
    index = 0
    if _time_left(deadline) < MIN_CALL_TIME:
        return _ChainOutcome(None, REQUEST_DEADLINE_PASSED, arm_name(0), chosen, [])
    while True:
        target, arm_started = chain[index], workflow.now()
        budget = None if deadline is None else deadline - arm_started
        call = ProviderCallInput(
            request_id=request.request_id,
            target=target,
            chat=checked.chat,
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
                )
            else:
                response = await workflow.execute_activity_method(
                    ProviderActivities.call_provider,
                    call,
                    task_queue=request.provider_task_queue,
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    schedule_to_close_timeout=budget,
                    retry_policy=PROVIDER_RETRY,
                )
            error = None
            break
        except ActivityError as exc:
            error = _request_error(exc)
        following = next_fallback(chain, index, error.code)
        # Past the deadline the chain stops with this arm's own error as the request's.
        if following is None or _time_left(deadline) < MIN_CALL_TIME:
            break
        failed_arms.append(
            _failed_arm(request, route, target, arm_name(index), error, arm_started, workflow.now())
        )
        index = following
    return _ChainOutcome(response, error, arm_name(index), target, failed_arms)


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


def _deadline() -> tuple[datetime | None, timedelta | None]:
    """When provider calls must stop, and how long settling may then take."""
    timeout = workflow.info().execution_timeout
    if timeout is None:
        return None, None
    settle_time = min(SETTLE_TIME, timeout / 5)
    return workflow.info().start_time + timeout - settle_time, settle_time


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


async def _bedrock_check(
    policy: GuardrailPolicy, source: str, texts: list[str]
) -> tuple[BedrockCheckResult | None, RequestError | None]:
    assert policy.bedrock is not None
    try:
        result = await workflow.execute_local_activity_method(
            RequestStepActivities.bedrock_guardrail,
            BedrockCheck(guardrail=policy.bedrock, source=source, texts=texts),  # type: ignore[arg-type]
            **LOCAL_STEP,
        )
    except (ActivityError, ApplicationError):
        # A failed local activity surfaces as its own error, not wrapped in ActivityError.
        # Fail closed: what the route wants checked is not passed on unchecked.
        return None, GUARDRAILS_UNAVAILABLE
    return result, None


async def _bedrock_on_input(
    checked: InputCheckResult, policy: GuardrailPolicy
) -> tuple[InputCheckResult, RequestError | None]:
    if policy.bedrock is None or checked.verdict.action == "block":
        return checked, None
    result, error = await _bedrock_check(policy, "INPUT", _texts(checked.chat))
    if result is None:
        return checked.model_copy(update={"verdict": Verdict(action="block")}), error
    if not result.intervened:
        return checked, None
    return checked.model_copy(
        update={
            "verdict": merge_external(
                checked.verdict, result.blocked, result.findings, result.reason
            ),
            "chat": with_request_texts(checked.chat, result.texts),
        }
    ), None


def _texts(checked: ChatRequest | ChatResponse) -> list[str]:
    """What a Bedrock guardrail checks: every text the built-in checks read, in their order."""
    items = request_texts(checked) if isinstance(checked, ChatRequest) else response_texts(checked)
    return [item.text for item in items]


def _request_error(exc: ActivityError) -> RequestError:
    cause = exc.cause
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
    message = cause.message if isinstance(cause, ApplicationError) else str(exc)
    return RequestError(type=kind, message=message, http_status=status, code=error_class)  # type: ignore[arg-type]
