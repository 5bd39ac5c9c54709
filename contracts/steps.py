"""Inputs and results of RequestWorkflow's local steps: admission (run by the gateway before the
workflow starts; a step only in older histories), settling, and a route's Bedrock guardrail.

Each local step costs a request a hop through the worker, so the built-in work is done in as few
of them as possible: the provider call that answers settles in the same step
(contracts/request.py, CallAndSettle). Only a Bedrock guardrail, which is I/O that can fail and be
retried, gets steps of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatRequest, ChatResponse
from contracts.experiment import ExperimentAssignment
from contracts.guardrails import (
    BedrockGuardrail,
    FindingCount,
    GuardrailPolicy,
    InputCheckResult,
    Verdict,
)
from contracts.outcome import OutcomeRecord, OutcomeStatus
from contracts.routing import ResolvedRoute


class AdmitInput(BaseModel):
    request_id: str
    tenant_id: str
    model: str
    chat: ChatRequest
    user_hash: str | None = None
    """The end user's keyed hash: the unit of experiments that stick by user."""
    unit_header_value: str | None = None
    """The header a running experiment on the route sticks by, where it has one."""


class AdmitResult(BaseModel):
    route: ResolvedRoute
    checked: InputCheckResult | None = None
    """None when the route did not resolve (nothing was checked)."""
    budgeted: bool = False
    """Its worst-case cost is held against the tenant's budgets (store/budgets.py): settling
    charges what it cost instead."""
    cached: ChatResponse | None = None
    """An answer from the route's response cache (activities/response_cache.py): no provider is
    called, the answer is checked and settled as if one had answered."""
    cache_key: str | None = None
    """A cacheable request that missed: settling keeps its answer under this key."""
    experiment: ExperimentAssignment | None = None
    """The running experiment and arm the request was put in (activities/experiment_assignment.py),
    recorded on its outcome rows."""


class BedrockCheck(BaseModel):
    guardrail: BedrockGuardrail
    source: Literal["INPUT", "OUTPUT"]
    texts: list[str]


class BedrockCheckResult(BaseModel):
    intervened: bool = False
    blocked: bool = False
    texts: list[str] = Field(default_factory=list)
    findings: list[FindingCount] = Field(default_factory=list)
    reason: str | None = None


class AnswerExpectations(BaseModel):
    """What the request asked of its answer's form: what the automatic scorers check it against
    (activities/answer_scores.py)."""

    json_answer: bool = False
    json_schema: dict[str, Any] | None = None
    tools: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Each offered tool's parameter schema."
    )


def expectations_of(chat: ChatRequest) -> AnswerExpectations | None:
    """None for a plain request (the common case: nothing to carry)."""
    if chat.response_format is None and not chat.tools:
        return None
    wanted = chat.response_format
    return AnswerExpectations(
        json_answer=wanted is not None,
        json_schema=None if wanted is None else wanted.json_schema,
        tools={tool.name: tool.parameters for tool in chat.tools},
    )


class SettleInput(BaseModel):
    outcome: OutcomeRecord
    """Everything but status and guardrail action, which settling decides."""
    response: ChatResponse | None = None
    error_code: str | None = None
    policy: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    vault: dict[str, str] = Field(default_factory=dict)
    input_verdict: Verdict = Field(default_factory=Verdict)
    output_bedrock: BedrockCheckResult | None = None
    failed_arms: list[OutcomeRecord] = Field(
        default_factory=list, description="Variants that failed before a fallback answered."
    )
    budgeted: bool = False
    """Settling also charges the request's cost to the budgets its admission held it against."""
    cache_key: str | None = None
    cache_ttl_seconds: float | None = None
    """Where and for how long settling keeps the answer, if it is one worth serving again."""
    expects: AnswerExpectations | None = None
    """The answer's expected form, for the automatic scores on its outcome row."""


class SettleResult(BaseModel):
    response: ChatResponse | None = None
    """The answer as the client gets it: checked, restored, or emptied when blocked."""
    output_verdict: Verdict | None = None
    status: OutcomeStatus
    recorded: list[OutcomeRecord] = Field(
        default_factory=list,
        description="The outcome rows written, one per arm: a local step's history marker keeps "
        "only its result, so the result shows what settling recorded.",
    )
