"""A route's AWS Bedrock guardrail, applied by RequestWorkflow to the request and the answer.

Workflow code: deterministic, with no state of its own.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from activities.request_steps import RequestStepActivities
from contracts.chat import ChatRequest, ChatResponse
from contracts.guardrails import GuardrailPolicy, InputCheckResult, Verdict
from contracts.request import RequestError
from contracts.steps import BedrockCheck, BedrockCheckResult
from guardrails.chat_texts import request_texts, response_texts, with_request_texts
from guardrails.enforcement import merge_external
from workflows.step_options import LOCAL_STEP

GUARDRAILS_UNAVAILABLE = RequestError(
    type="service_unavailable",
    message="the route's guardrails could not check this request; it was not processed",
    http_status=503,
    code="guardrails_unavailable",
)


async def bedrock_check(
    policy: GuardrailPolicy, source: str, texts: list[str]
) -> tuple[BedrockCheckResult | None, RequestError | None]:
    assert policy.bedrock is not None
    try:
        result = await workflow.execute_local_activity_method(
            RequestStepActivities.bedrock_guardrail,
            BedrockCheck(guardrail=policy.bedrock, source=source, texts=texts),  # type: ignore[arg-type]
            **LOCAL_STEP,
            summary=f"Bedrock guardrail {policy.bedrock.guardrail_id} on the {source.lower()}",
        )
    except (ActivityError, ApplicationError):
        # A failed local activity surfaces as its own error, not wrapped in ActivityError.
        # Fail closed: what the route wants checked is not passed on unchecked.
        return None, GUARDRAILS_UNAVAILABLE
    return result, None


async def bedrock_on_input(
    checked: InputCheckResult, policy: GuardrailPolicy
) -> tuple[InputCheckResult, RequestError | None]:
    if policy.bedrock is None or checked.verdict.action == "block":
        return checked, None
    result, error = await bedrock_check(policy, "INPUT", checkable_texts(checked.chat))
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


def checkable_texts(checked: ChatRequest | ChatResponse) -> list[str]:
    """What a Bedrock guardrail checks: every text the built-in checks read, in their order."""
    items = request_texts(checked) if isinstance(checked, ChatRequest) else response_texts(checked)
    return [item.text for item in items]
