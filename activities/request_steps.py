"""RequestWorkflow's local steps: settle (output check + outcome), the Bedrock guardrail call when
a route uses one, and admit (route + input check) for requests started before gateways admitted
them (activities/admission.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.admission import Admission
from activities.answer_scores import score_answer
from activities.bedrock_guardrails import BedrockGuardrailError, apply_guardrail
from activities.provider_calls import ProviderActivities
from activities.refusals import AdmissionRefused
from activities.response_cache import ResponseCache
from activities.streaming import CLIENT_GONE
from contracts.guardrails import ACTION_STRENGTH
from contracts.outcome import answered
from contracts.request import CallAndSettle, CallAndSettleResult
from contracts.routing import ResolvedRoute
from contracts.steps import (
    AdmitInput,
    AdmitResult,
    BedrockCheck,
    BedrockCheckResult,
    SettleInput,
    SettleResult,
)
from guardrails import enforcement
from guardrails.chat_texts import with_response_texts
from guardrails.findings import Registry
from guardrails.redaction import Vault
from store import budgets
from store.outcomes import record_outcomes


class RequestStepActivities:
    def __init__(
        self,
        engine: Engine,
        admission: Admission,
        scanner: Registry,
        providers: ProviderActivities,
    ) -> None:
        self._engine = engine
        self._admission = admission
        self._scanner = scanner
        self._providers = providers

    # Each step is a thread: store I/O and scanning would otherwise stall the worker's loop.

    @activity.defn(name="admit")
    async def admit(self, request: AdmitInput) -> AdmitResult:
        """Requests started before gateways admitted them run admission as their first step."""
        try:
            return await asyncio.to_thread(self._admission.admit, request)
        except AdmissionRefused as refused:
            # Refused as the gateway would refuse it, an answer the workflow returns: retrying
            # the step would only hold the request until its timeout.
            return AdmitResult(route=ResolvedRoute(route=request.model, error=str(refused)))

    @activity.defn(name="settle")
    async def settle(self, settle: SettleInput) -> SettleResult:
        return await asyncio.to_thread(self._settle, settle)

    @activity.defn(name="call_and_settle")
    async def call_and_settle(self, step: CallAndSettle) -> CallAndSettleResult:
        """The provider call that answers and the settling after it, as one local step: a step
        less per request. A failed call raises, to be retried by the step's policy; the settling
        runs only after an answer, so a retry never repeats it."""
        response = await self._providers.call_in_task(step.call)
        settle = step.settle.model_copy(
            update={
                "outcome": answered(step.settle.outcome, response, datetime.now(UTC)),
                "response": response,
            }
        )
        try:
            settled = await asyncio.to_thread(self._settle, settle)
        except SQLAlchemyError as exc:
            # Retrying this step would call the provider again: the workflow settles the answer
            # in a step of its own, which retries only the write.
            activity.logger.warning("outcome not recorded with the call, settling apart: %s", exc)
            settled = None
        return CallAndSettleResult(sent=step.call, response=response, settled=settled)

    def _settle(self, settle: SettleInput) -> SettleResult:
        return settle_outcome(self._engine, self._scanner, settle, self._admission.cache)

    @activity.defn(name="bedrock_guardrail")
    async def bedrock_guardrail(self, check: BedrockCheck) -> BedrockCheckResult:
        try:
            verdict = await asyncio.to_thread(
                apply_guardrail, check.guardrail, check.source, check.texts
            )
        except BedrockGuardrailError as exc:
            raise ApplicationError(
                str(exc), type="GuardrailBackendError", non_retryable=not exc.retryable
            ) from None
        return BedrockCheckResult(
            intervened=verdict.intervened,
            blocked=verdict.blocked,
            texts=verdict.texts,
            findings=verdict.findings,
            reason=verdict.reason,
        )


def settle_outcome(
    engine: Engine, scanner: Registry, settle: SettleInput, cache: ResponseCache | None = None
) -> SettleResult:
    """Check the answer, decide the arm's status and record its outcome rows: what every settle
    step does, and what a shadow call does with its own answer (gateway/shadow_calls.py)."""
    response, output_verdict = settle.response, None
    if response is not None and settle.error_code is None:
        if settle.output_bedrock is not None:
            response = with_response_texts(response, settle.output_bedrock.texts)
        # The check's own placeholders join a copy of the input's vault: what the output policy
        # redacts must stay redacted, so only the input's values are restored.
        output_verdict, response = enforcement.check_answer(
            response, settle.policy.output, scanner, Vault(settle.vault)
        )
        if settle.output_bedrock is not None:
            output_verdict = enforcement.merge_external(
                output_verdict,
                settle.output_bedrock.blocked,
                settle.output_bedrock.findings,
                settle.output_bedrock.reason,
            )
        if output_verdict.action == "block":
            # The model's tool calls are part of the answer and go with it.
            response = response.model_copy(
                update={"text": "", "tool_calls": [], "finish_reason": "content_filter"}
            )
        elif settle.policy.restore_output:
            response = enforcement.restore_answer(response, Vault(settle.vault))
    strongest = max(
        [settle.input_verdict.action] + ([output_verdict.action] if output_verdict else []),
        key=ACTION_STRENGTH.__getitem__,
    )
    if settle.error_code == CLIENT_GONE:
        status = "cancelled"
    elif settle.error_code is not None and settle.error_code != "content_filter":
        status = "error"
    elif strongest == "block":
        status = "blocked"
    else:
        status = "ok" if response is not None else "error"
    scored = {}
    if status == "ok" and response is not None:
        scores = score_answer(response, settle.expects)
        scored = {
            "json_valid": scores.json_valid,
            "tool_calls_valid": scores.tool_calls_valid,
            "refused": scores.refused,
            "answer_chars": scores.answer_chars,
        }
    rows = [
        *settle.failed_arms,
        settle.outcome.model_copy(
            update={
                "status": status,
                "guardrail_action": None if strongest == "none" else strongest,
                **scored,
            }
        ),
    ]
    record_outcomes(engine, rows)
    if settle.budgeted:
        # Once per request, however often this step runs (store/budgets.py).
        budgets.settle(engine, settle.outcome.request_id, sum(row.cost_usd for row in rows))
    if cache is not None:
        cache.keep(settle, response, status, output_verdict)
    return SettleResult(
        response=response, output_verdict=output_verdict, status=status, recorded=rows
    )
