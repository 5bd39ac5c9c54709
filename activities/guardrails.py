"""Guardrail checks on the request path, as local activities of RequestWorkflow."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.bedrock_guardrails import (
    BedrockGuardrailError,
    BedrockVerdict,
    apply_guardrail,
)
from contracts.guardrails import (
    ACTION_STRENGTH,
    InputCheck,
    InputCheckResult,
    OutputCheck,
    OutputCheckResult,
    Verdict,
)
from guardrails import enforcement
from guardrails.findings import Registry
from guardrails.redaction import Vault, restore


class GuardrailActivities:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @activity.defn(name="check_input")
    async def check_input(self, check: InputCheck) -> InputCheckResult:
        # Scanning is CPU work (and Bedrock a blocking call): a thread keeps the loop free.
        return await asyncio.to_thread(self._check_input, check)

    def _check_input(self, check: InputCheck) -> InputCheckResult:
        vault = Vault()
        verdict, chat = enforcement.check_input(
            check.chat, check.policy.input, self._registry, vault
        )
        if check.policy.bedrock is not None and verdict.action != "block":
            bedrock = _apply(check.policy.bedrock, "INPUT", [m.content for m in chat.messages])
            verdict = _merge(verdict, bedrock)
            chat = chat.model_copy(
                update={
                    "messages": [
                        m.model_copy(update={"content": text})
                        for m, text in zip(chat.messages, bedrock.texts, strict=True)
                    ]
                }
            )
        return InputCheckResult(verdict=verdict, chat=chat, vault=vault.by_placeholder)

    @activity.defn(name="check_output")
    async def check_output(self, check: OutputCheck) -> OutputCheckResult:
        return await asyncio.to_thread(self._check_output, check)

    def _check_output(self, check: OutputCheck) -> OutputCheckResult:
        vault = Vault(check.vault)
        verdict, text = enforcement.check_output(
            check.text, check.policy.output, self._registry, vault
        )
        if check.policy.bedrock is not None and verdict.action != "block":
            bedrock = _apply(check.policy.bedrock, "OUTPUT", [text])
            verdict = _merge(verdict, bedrock)
            text = bedrock.texts[0]
        if check.policy.restore_output and verdict.action != "block":
            text = restore(text, Vault(check.vault))
        return OutputCheckResult(verdict=verdict, text=text)


def _apply(guardrail, source, texts) -> BedrockVerdict:  # type: ignore[no-untyped-def]
    try:
        return apply_guardrail(guardrail, source, texts)
    except BedrockGuardrailError as exc:
        raise ApplicationError(
            str(exc), type="GuardrailBackendError", non_retryable=not exc.retryable
        ) from None


def _merge(verdict: Verdict, bedrock: BedrockVerdict) -> Verdict:
    if not bedrock.intervened:
        return verdict
    action = "block" if bedrock.blocked else "redact"
    strongest = max(verdict.action, action, key=ACTION_STRENGTH.__getitem__)
    return verdict.model_copy(
        update={
            "action": strongest,
            "findings": verdict.findings + bedrock.findings,
            "reason": verdict.reason or bedrock.reason if strongest == "block" else None,
        }
    )
