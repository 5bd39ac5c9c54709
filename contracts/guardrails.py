"""Guardrail policies and verdicts, as the workflow, activities and store exchange them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatRequest

Action = Literal["allow", "log", "redact", "block"]
# Strength order: a direction's verdict is the strongest action any finding called for.
ACTION_STRENGTH: dict[str, int] = {"none": 0, "allow": 0, "log": 1, "redact": 2, "block": 3}


class DirectionPolicy(BaseModel):
    """What to do with findings in one direction (input to the model, or its output)."""

    default_action: Action = "log"
    actions: dict[str, Action] = Field(
        default_factory=dict, description="Per entity type, e.g. {'CREDIT_CARD': 'block'}."
    )
    injection_threshold: float | None = Field(
        None, ge=0, le=1, description="Input only: act when the injection score reaches this."
    )
    injection_action: Literal["log", "block"] = "block"

    def action_for(self, entity_type: str) -> Action:
        return self.actions.get(entity_type, self.default_action)


class BedrockGuardrail(BaseModel):
    """An AWS Bedrock guardrail applied after the built-in checks (ApplyGuardrail)."""

    guardrail_id: str = Field(min_length=1)
    guardrail_version: str = "DRAFT"
    region: str | None = None
    endpoint_url: str | None = None


class GuardrailPolicy(BaseModel):
    input: DirectionPolicy = Field(default_factory=DirectionPolicy)
    output: DirectionPolicy = Field(default_factory=DirectionPolicy)
    bedrock: BedrockGuardrail | None = Field(
        None, description="Also run this Bedrock guardrail on both directions."
    )
    restore_output: bool = Field(
        True, description="Put values redacted from the input back into the model's answer."
    )


class FindingCount(BaseModel):
    type: str
    count: int
    action: Action


class Verdict(BaseModel):
    """What one direction's check found and did. Carries counts, never values."""

    action: Literal["none", "log", "redact", "block"] = "none"
    findings: list[FindingCount] = Field(default_factory=list)
    injection_score: float = 0.0
    reason: str | None = None


class InputCheckResult(BaseModel):
    verdict: Verdict
    chat: ChatRequest
    """The request as the provider should see it (redacted where the policy says so)."""
    vault: dict[str, str] = Field(default_factory=dict)
    """Placeholder -> original value, for restoring the answer. Lives only in this request's
    (encrypted) workflow history, never in the store or logs."""
