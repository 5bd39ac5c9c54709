"""RequestWorkflow: one AI request, from route resolution to the recorded outcome.

It reads top to bottom like the request flow. Expected failures (unknown model, provider errors)
end the workflow with an error result the gateway turns into an OpenAI-style error; anything
unexpected fails the workflow instead of retrying its task forever, so no request ever hangs.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.guardrails import GuardrailActivities
    from activities.outcomes import OutcomeActivities
    from activities.provider_calls import ProviderActivities
    from activities.routing import RoutingActivities
    from contracts.chat import ChatResponse
    from contracts.guardrails import (
        InputCheck,
        InputCheckResult,
        OutputCheck,
        OutputCheckResult,
        Verdict,
    )
    from contracts.outcome import OutcomeRecord
    from contracts.request import (
        Guardrails,
        ProviderCallInput,
        RequestError,
        RequestInput,
        RequestResult,
    )
    from contracts.routing import ResolveRouteInput
    from workflows import search_attributes
    from workflows.selection import pick_target

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
    "UnknownModel": ("invalid_request_error", 404),
}


@workflow.defn(name="RequestWorkflow", failure_exception_types=[Exception])
class RequestWorkflow:
    @workflow.run
    async def run(self, request: RequestInput) -> RequestResult:
        started = workflow.now()
        resolved = await workflow.execute_local_activity_method(
            RoutingActivities.resolve_route,
            ResolveRouteInput(tenant_id=request.tenant_id, model=request.model),
            **LOCAL_STEP,
        )
        if resolved.error is not None:
            return RequestResult(
                request_id=request.request_id,
                route=request.model,
                error=RequestError(
                    type="invalid_request_error",
                    message=resolved.error,
                    http_status=404,
                    code="model_not_found",
                ),
            )
        # Only a resolved (hence operator-defined) route name may become a search attribute.
        workflow.upsert_search_attributes([search_attributes.ROUTE.value_set(resolved.route)])

        target = pick_target(resolved.targets, request.request_id)
        policy = resolved.guardrails
        response, error, checked_out = None, None, None
        try:
            checked_in = await workflow.execute_local_activity_method(
                GuardrailActivities.check_input,
                InputCheck(request_id=request.request_id, chat=request.chat, policy=policy),
                **LOCAL_STEP,
            )
        except (ActivityError, ApplicationError):
            # A failed local activity surfaces as its own error, not wrapped in ActivityError.
            # Fail closed: a request the route wants checked is not sent unchecked.
            checked_in = InputCheckResult(
                verdict=Verdict(action="block", reason="the guardrail check failed"),
                chat=request.chat,
            )
            error = GUARDRAILS_UNAVAILABLE
        if error is None and checked_in.verdict.action == "block":
            error = RequestError(
                type="invalid_request_error",
                message=f"the request was blocked by the route's guardrails: "
                f"{checked_in.verdict.reason}",
                http_status=400,
                code="content_filter",
            )
        elif error is None:
            try:
                response = await workflow.execute_activity_method(
                    ProviderActivities.call_provider,
                    ProviderCallInput(
                        request_id=request.request_id, target=target, chat=checked_in.chat
                    ),
                    task_queue=request.provider_task_queue,
                    start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                    retry_policy=PROVIDER_RETRY,
                )
            except ActivityError as exc:
                error = _request_error(exc)
        if response is not None:
            try:
                checked_out = await workflow.execute_local_activity_method(
                    GuardrailActivities.check_output,
                    OutputCheck(
                        request_id=request.request_id,
                        text=response.text,
                        policy=policy,
                        vault=checked_in.vault,
                    ),
                    **LOCAL_STEP,
                )
            except (ActivityError, ApplicationError):
                checked_out = OutputCheckResult(
                    verdict=Verdict(action="block", reason="the guardrail check failed"), text=""
                )
                error = GUARDRAILS_UNAVAILABLE
            blocked = checked_out.verdict.action == "block"
            response = response.model_copy(
                update={
                    "text": "" if blocked else checked_out.text,
                    "finish_reason": "content_filter" if blocked else response.finish_reason,
                }
            )

        verdicts = Guardrails(
            input=checked_in.verdict, output=checked_out.verdict if checked_out else None
        )
        status = _status(response, error, verdicts)
        finished = workflow.now()
        await workflow.execute_local_activity_method(
            OutcomeActivities.record_outcome,
            OutcomeRecord(
                request_id=request.request_id,
                tenant_id=request.tenant_id,
                route=resolved.route,
                variant=target.variant,
                provider=target.provider,
                model=target.model,
                status=status,
                error_class=None if error is None else error.code,
                latency_ms=(
                    response.latency_ms if response else (finished - started).total_seconds() * 1000
                ),
                tokens_in=response.usage.input_tokens if response else 0,
                tokens_out=response.usage.output_tokens if response else 0,
                cost_usd=response.cost_usd if response else 0.0,
                guardrail_action=verdicts.strongest_action(),
                quality_score=response.quality_score if response else None,
                started_at=started,
                finished_at=finished,
            ),
            **LOCAL_STEP,
        )
        workflow.upsert_search_attributes(
            [
                search_attributes.PROVIDER.value_set(target.provider),
                search_attributes.MODEL.value_set(target.model),
                search_attributes.STATUS.value_set(status),
            ]
        )
        return RequestResult(
            request_id=request.request_id,
            route=resolved.route,
            target=target,
            response=response,
            error=error,
            guardrails=verdicts,
        )


def _status(response: ChatResponse | None, error: RequestError | None, verdicts: Guardrails) -> str:
    if error is not None and error.code != "content_filter":
        return "error"
    if verdicts.strongest_action() == "block":
        return "blocked"
    return "ok" if response is not None else "error"


def _request_error(exc: ActivityError) -> RequestError:
    cause = exc.cause
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
