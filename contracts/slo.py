"""Service level objectives of a route (`slos:` in the route file), and the alerts on them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class Slo(BaseModel, extra="forbid"):
    """`availability`: the share of requests answered (not failed) is at least `objective`.
    `latency`: the share answered within `threshold_ms` is at least `objective`."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: Literal["availability", "latency"]
    objective: float = Field(gt=0.5, lt=1, description="For example 0.995.")
    threshold_ms: float | None = Field(None, gt=0, description="latency: the bound.")

    @model_validator(mode="after")
    def _latency_needs_a_threshold(self) -> Slo:
        if (self.kind == "latency") != (self.threshold_ms is not None):
            raise ValueError("threshold_ms is for (and needed by) a latency SLO")
        return self


class AlertChange(BaseModel):
    """An alert that began or ended firing at one check."""

    route: str
    slo: str
    severity: Literal["page", "ticket"]
    firing: bool
    burn_rates: dict[str, float] = Field(description="Per window ('1h', '5m', ...).")
    description: str


class SloCheck(BaseModel):
    """What one check found: the alerts firing now, and the ones that changed."""

    firing: list[str] = Field(default_factory=list, description="route/slo/severity of each.")
    changes: list[AlertChange] = Field(default_factory=list)
    routes_burning_fast: list[str] = Field(
        default_factory=list, description="Routes with a page firing: their rollouts pause."
    )
