"""What a route resolves to: the concrete provider and model a request goes to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contracts.guardrails import GuardrailPolicy


class RouteTarget(BaseModel):
    variant: str = Field(description="Name of the route variant, e.g. 'baseline'.")
    provider: str
    model: str
    weight: float = Field(1.0, ge=0)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific settings for this variant."
    )


class ShadowTarget(BaseModel):
    """A variant that answers a sample of the route's requests in the background, never to a
    client: a rollout's shadow stage compares it with what the route serves."""

    target: RouteTarget
    sample: float = Field(gt=0, le=1, description="Share of the route's requests copied.")


class ResolvedRoute(BaseModel):
    route: str
    version: int = Field(
        0, description="Route version the targets came from; 0 for explicit models."
    )
    targets: list[RouteTarget] = Field(default_factory=list)
    guardrails: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    shadow: ShadowTarget | None = None
    error: str | None = Field(None, description="Why the name resolved to nothing, if it did.")
