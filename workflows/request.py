"""RequestWorkflow: one AI request, from admission to the recorded outcome.

It reads top to bottom like the request flow: admit (resolve the route, check the input), call
the provider, settle (check the output, record the outcome). Expected failures (unknown model,
blocked content, provider errors) end the workflow with an error result the gateway turns into an
OpenAI-style error; anything unexpected fails the workflow instead of retrying its task forever,
so no request ever hangs.

A request that needs no streaming runs whole in its first workflow task: admit, the provider
calls and settle are local steps, and their history markers record each step's result (with what
it was sent). The worker runs it unsandboxed (gateway/request_worker.py says why and what checks
it), so the flow here and in its modules (workflows/provider_chain.py, bedrock_checks.py) must
stay deterministic: time from workflow.now(), no I/O, no randomness, no state between runs.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.request_steps import RequestStepActivities
    from contracts.outcome import OutcomeRecord
    from contracts.request import (
        Guardrails,
        RequestError,
        RequestInput,
        RequestResult,
        unresolved_route,
    )
    from contracts.steps import AdmitInput
    from workflows import search_attributes
    from workflows.bedrock_checks import bedrock_check, bedrock_on_input, checkable_texts
    from workflows.provider_chain import call_providers, request_deadline
    from workflows.search_attributes import ROUTE
    from workflows.selection import pick_target
    from workflows.settling import settle_input
    from workflows.step_options import LOCAL_STEP
    from workflows.summaries import SETTLE_SUMMARY, request_summary


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
        deadline, settle_time = request_deadline(request)
        admitted = request.admitted or await workflow.execute_local_activity_method(
            RequestStepActivities.admit,
            AdmitInput(
                request_id=request.request_id,
                tenant_id=request.tenant_id,
                model=request.model,
                chat=request.chat,
            ),
            **LOCAL_STEP,
            summary="admit: resolve the route, check the input",
        )
        route = admitted.route
        if route.error is not None or admitted.checked is None:
            # Gateways now answer these themselves; older requests got this far.
            return unresolved_route(request.request_id, request.model, route.error or "")
        # Only a resolved (hence operator-defined) route name may become a search attribute.
        # Gateways now set it at start; before, a request that ran in one workflow task set it
        # with the others at the end (nobody could see the run in between).
        one_task = request.provider_call_in_task and request.stream_task_queue is None
        if not one_task and not request.attributes_at_start:
            workflow.upsert_search_attributes([ROUTE.value_set(route.route)])
        first = target = pick_target(route.targets, request.request_id)
        policy = route.guardrails

        response, error, output_bedrock, settled = None, None, None, None
        failed_arms: list[OutcomeRecord] = []
        arm = "primary"
        checked, error = await bedrock_on_input(admitted.checked, policy)
        # The answering call settles in its own step, unless a Bedrock check must come between.
        settle_with_call = request.settle_with_call and one_task and policy.bedrock is None
        if error is None and checked.verdict.action == "block":
            error = RequestError(
                type="invalid_request_error",
                message=f"the request was blocked by the route's guardrails: "
                f"{checked.verdict.reason}",
                http_status=400,
                code="content_filter",
            )
        elif error is None and admitted.cached is not None:
            # A cached answer: no provider call; settling checks and records it as any other.
            response = admitted.cached
        elif error is None:
            response, error, arm, target, failed_arms, settled = await call_providers(
                request,
                route.route,
                target,
                route.targets,
                checked,
                policy,
                deadline,
                settle_input(request, route.route, target, arm, checked, policy, started, started)
                if settle_with_call
                else None,
            )
        if response is not None and policy.bedrock is not None:
            output_bedrock, error = await bedrock_check(policy, "OUTPUT", checkable_texts(response))

        if settled is None:
            settled = await workflow.execute_local_activity_method(
                RequestStepActivities.settle,
                settle_input(
                    request,
                    route.route,
                    target,
                    arm,
                    checked,
                    policy,
                    started,
                    workflow.now(),
                    response,
                    error,
                    output_bedrock,
                    failed_arms,
                ),
                start_to_close_timeout=LOCAL_STEP["start_to_close_timeout"],
                schedule_to_close_timeout=settle_time,
                retry_policy=LOCAL_STEP["retry_policy"],
                summary=SETTLE_SUMMARY,
            )
        workflow.set_current_details(
            request_summary(
                route.route,
                target,
                settled.status,
                response,
                settled.output_verdict,
                route.reason,
                admitted.cached is not None,
            )
        )
        ending = search_attributes.at_end(
            request.attributes_at_start,
            route.route if one_task else None,
            first,
            target,
            settled.status,
        )
        if ending:
            workflow.upsert_search_attributes(ending)
        return RequestResult(
            request_id=request.request_id,
            route=route.route,
            target=target,
            response=settled.response if error is None else None,
            error=error,
            guardrails=Guardrails(input=checked.verdict, output=settled.output_verdict),
        )
