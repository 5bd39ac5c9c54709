"""One outcome row: what happened to one arm of one request."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatResponse

# "cancelled": the client went away before the answer was complete; neither a success nor the
# arm's failure.
OutcomeStatus = Literal["ok", "error", "blocked", "cancelled"]
Arm = Literal["primary", "shadow", "fallback-1", "fallback-2", "fallback-3"]


class OutcomeRecord(BaseModel):
    request_id: str
    arm: Arm = "primary"
    tenant_id: str
    route: str
    variant: str | None = None
    provider: str | None = None
    model: str | None = None
    status: OutcomeStatus
    error_class: str | None = None
    latency_ms: float = Field(0.0, ge=0)
    tokens_in: int = Field(0, ge=0)
    tokens_out: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)
    cache_hit: bool = False
    routing_reason: str | None = None
    user_hash: str | None = None
    experiment: str | None = None
    experiment_arm: str | None = None
    experiment_unit: str | None = None
    guardrail_action: str | None = None
    quality_score: float | None = None
    # The automatic scores of an answered arm (activities/answer_scores.py); None otherwise.
    json_valid: bool | None = None
    tool_calls_valid: bool | None = None
    refused: bool | None = None
    answer_chars: int | None = None
    started_at: datetime
    finished_at: datetime


def answered(outcome: OutcomeRecord, response: ChatResponse, finished: datetime) -> OutcomeRecord:
    """The arm's row once its provider answered: the answer's latency, tokens, cost and quality."""
    return outcome.model_copy(
        update={
            "latency_ms": response.latency_ms,
            "tokens_in": response.usage.input_tokens,
            "tokens_out": response.usage.output_tokens,
            "cost_usd": response.cost_usd,
            "quality_score": response.quality_score,
            "finished_at": finished,
        }
    )
