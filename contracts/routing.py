"""What a route resolves to: the concrete provider and model a request goes to."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatMessage, ChatRequest
from contracts.guardrails import GuardrailPolicy


class RouteTarget(BaseModel):
    variant: str = Field(description="Name of the route variant, e.g. 'baseline'.")
    provider: str
    model: str
    weight: float = Field(1.0, ge=0)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific settings for this variant."
    )
    system_prompt: str | None = Field(
        None,
        description="Sent first, as a system message, in every request this variant answers: a "
        "prompt change is a new variant and rolls out as a model change does.",
    )


def left_serving(kept: list[RouteTarget]) -> list[RouteTarget]:
    """Variants left after some were taken out of a request's route: if none of them had
    traffic of its own (they were fallbacks), the first takes the traffic."""
    if kept and not any(t.weight > 0 for t in kept):
        return [kept[0].model_copy(update={"weight": 1.0}), *kept[1:]]
    return kept


def prompted(chat: ChatRequest, target: RouteTarget) -> ChatRequest:
    """The request as `target` is sent it: behind its variant's system prompt, if it has one.

    The client's own messages, system ones included, follow unchanged: the operator's prompt sets
    the frame and the client's instructions still apply within it."""
    if target.system_prompt is None:
        return chat
    prompt = ChatMessage(role="system", content=target.system_prompt)
    return chat.model_copy(update={"messages": [prompt, *chat.messages]})


class ShadowTarget(BaseModel):
    """A variant that answers a sample of the route's requests in the background, never to a
    client: a rollout's shadow stage compares it with what the route serves."""

    target: RouteTarget
    sample: float = Field(gt=0, le=1, description="Share of the route's requests copied.")


class CachePolicy(BaseModel):
    """Answers of this route are kept and served again to the same tenant's identical requests."""

    ttl_seconds: float = Field(gt=0, le=30 * 86400, description="How long an answer is served.")


class RoutingPolicy(BaseModel):
    """How a route picks among its variants (activities/routing_policies.py)."""

    kind: Literal["weighted", "cheapest", "fastest", "score"] = "weighted"
    cost_weight: float = Field(0.0, ge=0, description="score: subtracted per USD of expected cost.")
    latency_weight: float = Field(
        0.0, ge=0, description="score: subtracted per second of recent latency."
    )
    max_cost_usd: float | None = Field(None, gt=0, description="Expected cost per request.")
    max_latency_ms: float | None = Field(None, gt=0, description="Recent latency.")
    providers: list[str] | None = Field(None, description="The providers allowed; default all.")
    min_context_tokens: int | None = Field(None, gt=0)
    requires: list[Literal["tools", "structured_output"]] = Field(
        default_factory=list,
        description="Capabilities every chosen variant must be known to have (models.json).",
    )
    regions: list[str] | None = Field(
        None,
        description="Where calls may be processed: a region ('eu-central-1'), or a prefix that "
        "covers its regions ('eu' allows eu-central-1, eu-west-1 and Bedrock's eu. profiles). "
        "A variant whose region is unknown is never allowed. Default: anywhere.",
    )
    over_budget: Literal["refuse", "cheapest"] = Field(
        "refuse",
        description="When a budget cannot hold the request's worst case: refuse it (429), or "
        "send it to the cheapest variant whose worst case still fits, without fallbacks.",
    )


class ResolvedRoute(BaseModel):
    route: str
    version: int = Field(
        0, description="Route version the targets came from; 0 for explicit models."
    )
    targets: list[RouteTarget] = Field(default_factory=list)
    guardrails: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    shadow: ShadowTarget | None = None
    cache: CachePolicy | None = None
    routing: RoutingPolicy | None = None
    reason: str | None = Field(None, description="Why the routing policy chose as it did.")
    error: str | None = Field(None, description="Why the name resolved to nothing, if it did.")
