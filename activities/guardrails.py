"""Guardrail checks on the request path, as local activities of RequestWorkflow."""

from __future__ import annotations

import asyncio

from temporalio import activity

from contracts.guardrails import InputCheck, InputCheckResult, OutputCheck, OutputCheckResult
from guardrails import enforcement
from guardrails.findings import Registry
from guardrails.redaction import Vault, restore


class GuardrailActivities:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @activity.defn(name="check_input")
    async def check_input(self, check: InputCheck) -> InputCheckResult:
        # Scanning is CPU work; a thread keeps a long prompt from stalling the event loop.
        return await asyncio.to_thread(self._check_input, check)

    def _check_input(self, check: InputCheck) -> InputCheckResult:
        vault = Vault()
        verdict, chat = enforcement.check_input(
            check.chat, check.policy.input, self._registry, vault
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
        if check.policy.restore_output and verdict.action != "block":
            text = restore(text, Vault(check.vault))
        return OutputCheckResult(verdict=verdict, text=text)
