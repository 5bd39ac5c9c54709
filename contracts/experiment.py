"""An experiment's spec: which variants of a route share its traffic, who sticks to which, and
how the scheduled evaluation decides which is better.

Read from a YAML file in the shape of the route and rollout files:

    name: support-tone
    route: support-bot
    arms:
      - variant: control                 # the route's own variant, by name
      - variant: concise                 # a new one: same fields as a rollout's candidate
        provider: simulated
        model: sim-smart
        system_prompt: Answer in two sentences.
    unit: user                           # user (the OpenAI `user` field), header:x-user-id, request
    primary: {name: quality}             # better on this...
    guardrails: [{name: error_rate, margin: 0.01}]   # ...and not worse on these beyond margin
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contracts.rollout import Duration, Metric, MetricName
from contracts.routing import RouteTarget
from contracts.spec_files import load_spec_file

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_HEADER = re.compile(r"^header:[A-Za-z0-9-]{1,64}$")


class Arm(BaseModel, extra="forbid"):
    """A variant of the route by name, or a new one described in full (provider and model)."""

    variant: str = Field(min_length=1, max_length=64)
    provider: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    system_prompt: str | None = None

    @model_validator(mode="after")
    def _whole_or_named(self) -> Arm:
        if (self.provider is None) != (self.model is None):
            raise ValueError(f"arm {self.variant!r}: give both provider and model, or neither")
        if self.provider is None and (self.options or self.system_prompt is not None):
            raise ValueError(
                f"arm {self.variant!r}: options and system_prompt need a provider and model "
                "(an arm naming the route's variant takes it as it is)"
            )
        return self

    def target(self) -> RouteTarget | None:
        """The arm's own target, None when it names one of the route's variants."""
        if self.provider is None or self.model is None:
            return None
        return RouteTarget(
            variant=self.variant,
            provider=self.provider,
            model=self.model,
            options=self.options,
            system_prompt=self.system_prompt,
        )


class Allocation(BaseModel, extra="forbid"):
    """How traffic is split: fixed weights, or Thompson sampling on the primary metric."""

    kind: Literal["fixed", "thompson"] = "fixed"
    weights: dict[str, float] | None = Field(
        None, description="fixed: per arm (relative); default equal."
    )
    floor: float = Field(
        0.05, ge=0, lt=1, description="thompson: the least share any running arm keeps."
    )


class JudgeSpec(BaseModel, extra="forbid"):
    """A model that compares two arms' answers to the same request, for a sample of requests."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    sample: float = Field(0.1, gt=0, le=1, description="Share of the experiment's requests.")


class ExperimentSpec(BaseModel, extra="forbid"):
    name: str = Field(description="The experiment's id: lower case, digits, '-', '_', '.'.")
    route: str = Field(min_length=1, max_length=128)
    arms: list[Arm] = Field(min_length=2, max_length=8)
    control: str | None = Field(None, description="The arm the others are judged against.")
    allocation: Allocation = Field(default_factory=Allocation)
    unit: str = Field(
        "user",
        description="What sticks to an arm: 'user' (the request's user field or x-interlock-user), "
        "'header:NAME', or 'request'. Requests without it are served outside the experiment.",
    )
    salt: str | None = Field(None, description="Mixed into the unit's hash; default the name.")
    primary: Metric = Field(
        default_factory=lambda: Metric(name="quality", margin=0.0),
        description="An arm wins by being better on this (beyond doubt).",
    )
    guardrails: list[Metric] = Field(
        default_factory=lambda: [
            Metric(name="error_rate", margin=0.01),
            Metric(name="p95_latency", margin=0.05),
        ],
        description="An arm may not be worse on these by more than their margins.",
    )
    alpha: float = Field(0.05, gt=0, lt=0.5)
    min_samples: int = Field(200, ge=1, description="Per arm, before anything is decided.")
    max_duration: Duration = Field(timedelta(days=14), description="Then it ends as it stands.")
    on_win: Literal["promote", "report"] = Field(
        "promote", description="promote: the winner replaces the control in the route."
    )
    on_harm: Literal["stop_arm", "report"] = Field(
        "stop_arm", description="stop_arm: a harmful arm takes no more traffic."
    )
    judge: JudgeSpec | None = Field(
        None,
        description="Pairwise judging: a sample of requests is also answered by another arm, and "
        "this model says which answer is better, asked in both orders.",
    )

    @field_validator("name")
    @classmethod
    def _readable_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be 1-64 characters of lower-case letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("primary", mode="before")
    @classmethod
    def _superiority(cls, value: Any) -> Any:
        # The primary metric is where an arm must be better, not merely no worse: no margin.
        if isinstance(value, dict):
            if value.get("margin", 0) != 0:
                raise ValueError("the primary metric takes no margin: an arm wins by being better")
            return {**value, "margin": 0.0}
        return value

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str) -> str:
        if value in ("user", "request") or _HEADER.match(value):
            return value.lower() if value.startswith("header:") else value
        raise ValueError("must be 'user', 'request' or 'header:NAME'")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        names = [arm.variant for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique: {names}")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control {self.control!r} is not one of the arms {names}")
        weights = self.allocation.weights
        if weights is not None:
            if self.allocation.kind != "fixed":
                raise ValueError("allocation weights are for kind 'fixed'")
            if set(weights) != set(names) or any(w <= 0 for w in weights.values()):
                raise ValueError(f"allocation weights need a positive weight for each of {names}")
        if self.allocation.floor * len(names) > 1:
            raise ValueError(
                f"a floor of {self.allocation.floor} cannot hold for {len(names)} arms"
            )
        metrics: list[MetricName] = [self.primary.name, *(m.name for m in self.guardrails)]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"each metric may appear once: {metrics}")
        if self.allocation.kind == "thompson" and self.primary.name == "p95_latency":
            raise ValueError("thompson allocation needs a primary metric other than p95_latency")
        return self

    @property
    def control_arm(self) -> str:
        return self.control or self.arms[0].variant

    @property
    def hash_salt(self) -> str:
        return self.salt or self.name

    def arm_target(self, arm: str, route_targets: list[RouteTarget]) -> RouteTarget | None:
        """What `arm` calls: its own description, or the route's variant of that name (None if
        the route has none by then)."""
        own = next(a for a in self.arms if a.variant == arm).target()
        return own or next((t for t in route_targets if t.variant == arm), None)

    def initial_weights(self) -> dict[str, float]:
        names = [arm.variant for arm in self.arms]
        if self.allocation.weights is not None:
            total = sum(self.allocation.weights.values())
            return {name: self.allocation.weights[name] / total for name in names}
        return {name: 1 / len(names) for name in names}


class ExperimentFileError(ValueError):
    """The file cannot be read as an experiment spec; the message says where and why."""


def load_experiment_file(path: Path) -> ExperimentSpec:
    return load_spec_file(path, ExperimentSpec, ExperimentFileError, "name, route and arms")


class ExperimentAssignment(BaseModel):
    """Which experiment a request is in and on which arm: recorded on its outcome rows."""

    experiment: str
    arm: str
    unit: str | None = None
    """A digest of the unit the arm was chosen by (experiments split by user or header), so a look
    can count each arm's units; never the unit itself. None when split by request."""


class EvaluationRequest(BaseModel):
    """What one evaluation looks at: the named experiments, or every running one."""

    experiments: list[str] | None = None


class EvaluateExperiment(BaseModel):
    experiment: str
    evaluation: str = Field(
        description="This evaluation's id: its look and decision are keyed by it."
    )


Action = Literal[
    "none",
    "continue",
    "reweight",
    "stop_arm",
    "promote",
    "report_winner",
    "complete",
    "expire",
    "stop",
]


class ExperimentVerdict(BaseModel):
    """What an evaluation decided for one experiment, with the numbers it decided on."""

    experiment: str
    evaluation: str
    action: Action
    reason: str
    winner: str | None = None
    weights: dict[str, float] | None = Field(
        None, description="reweight, stop_arm: the new shares."
    )
    evidence: dict[str, Any] = Field(default_factory=dict)
    applied: bool = Field(False, description="Set once the action has been carried out.")


class EvaluationReport(BaseModel):
    verdicts: list[ExperimentVerdict] = Field(default_factory=list)
