"""A rollout's spec: which change reaches which route's traffic, in what steps, judged on what.

Read from a YAML file in the shape of the route files. The defaults make a four-line file a sound
canary: shadow first, then 1%, 5%, 25% and 50% of traffic, each step judged on error rate, p95
latency and guardrail blocks at alpha 0.05, pausing for a person when the evidence stays unclear.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from contracts.spec_files import load_spec_file

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ISO_DURATION = TypeAdapter(timedelta)


def _duration(value: Any) -> Any:
    """'30s', '5m', '2h', '1d', '250ms' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    try:
        # ISO 8601 (PT30M): how a spec comes back from JSON, in a workflow's input.
        return _ISO_DURATION.validate_python(value)
    except ValidationError:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1d, got {value!r}") from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class Candidate(BaseModel, extra="forbid"):
    """The variant under test: what the route would send traffic to instead of its baseline."""

    @model_validator(mode="before")
    @classmethod
    def _without_an_unset_prompt_template(cls, data: Any) -> Any:
        # Rollouts started before system prompts carry `prompt_template: null` in their input
        # (a set one was refused at start): they must still decode when their histories replay.
        if isinstance(data, dict) and "prompt_template" in data and data["prompt_template"] is None:
            return {k: v for k, v in data.items() if k != "prompt_template"}
        return data

    variant: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    options: dict[str, Any] = Field(
        default_factory=dict, description="Provider settings, as a route variant's options."
    )
    system_prompt: str | None = Field(
        None,
        description="Sent first, as a system message, in every request the candidate answers: "
        "a prompt change rolls out like a model change (the same provider and model, a new "
        "prompt).",
    )


STEP_TIME_LIMIT = timedelta(minutes=30)


class Step(BaseModel, extra="forbid"):
    weight: float = Field(gt=0, le=100, description="Percent of the route's traffic.")
    min_requests: int = Field(200, ge=1, description="Per arm, before the step can pass.")
    time_limit: Duration = Field(
        STEP_TIME_LIMIT, description="Then the rollout applies on_inconclusive."
    )


class Shadow(BaseModel, extra="forbid"):
    """The candidate also answers a sample of requests in the background; clients never see it."""

    sample: float = Field(0.1, gt=0, le=1, description="Share of the route's requests copied.")
    min_requests: int = Field(200, ge=1)
    time_limit: Duration = timedelta(minutes=30)


class Analysis(BaseModel, extra="forbid"):
    interval: Duration = timedelta(minutes=1)


MetricName = Literal[
    "error_rate",
    "p95_latency",
    "cost_per_request",
    "guardrail_block_rate",
    "quality",
    "feedback",
    "json_valid_rate",
    "tool_call_valid_rate",
    "refusal_rate",
    "answer_length",
]
# answer_length has no natural direction (brief or thorough?): a spec must say.
_DIRECTIONS: dict[str, Literal["lower_is_better", "higher_is_better"]] = {
    "error_rate": "lower_is_better",
    "p95_latency": "lower_is_better",
    "cost_per_request": "lower_is_better",
    "guardrail_block_rate": "lower_is_better",
    "quality": "higher_is_better",
    "feedback": "higher_is_better",
    "json_valid_rate": "higher_is_better",
    "tool_call_valid_rate": "higher_is_better",
    "refusal_rate": "lower_is_better",
}


class Metric(BaseModel, extra="forbid"):
    """A metric the candidate must not be worse on by more than `margin` (absolute, in the
    metric's units: a share for rates, USD for cost, a score for quality; for p95 latency the
    share of requests slower than the baseline's p95, whose baseline value is 0.05)."""

    name: MetricName
    margin: float = Field(ge=0)
    direction: Literal["lower_is_better", "higher_is_better"] | None = None

    @model_validator(mode="after")
    def _natural_direction(self) -> Metric:
        if self.direction is None:
            if self.name not in _DIRECTIONS:
                raise ValueError(
                    f"{self.name} needs a direction: lower_is_better or higher_is_better"
                )
            self.direction = _DIRECTIONS[self.name]
        return self


def default_metrics() -> list[Metric]:
    return [
        Metric(name="error_rate", margin=0.01),
        Metric(name="p95_latency", margin=0.05),
        Metric(name="guardrail_block_rate", margin=0.01),
    ]


CANARY_STEPS = (1.0, 5.0, 25.0, 50.0)


class RolloutSpec(BaseModel, extra="forbid"):
    route: str = Field(min_length=1, max_length=128)
    candidate: Candidate
    baseline: str | None = Field(
        None, description="The baseline variant's name; default: the route's live variant."
    )
    strategy: Literal["canary", "blue-green", "shadow"] = "canary"
    shadow: Shadow | None = Field(
        default_factory=Shadow,
        description="The shadow stage before any traffic step; null skips it.",
    )
    steps: list[Step] | None = Field(
        None, description="Traffic steps; default 1%, 5%, 25%, 50% for canary, 100% for blue-green."
    )
    bake: Duration = Field(
        timedelta(minutes=10),
        description="Blue-green: how long all traffic stays on the candidate, a failure still "
        "rolling it back at once, before it can become the baseline.",
    )
    baseline_window: Duration = Field(
        timedelta(hours=1),
        description="Blue-green: the baseline's outcomes over this period before the switch are "
        "what the candidate is compared with (no baseline traffic is left after it).",
    )
    analysis: Analysis = Field(default_factory=Analysis)
    metrics: list[Metric] = Field(default_factory=default_metrics, min_length=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    on_inconclusive: Literal["pause", "rollback", "promote"] = "pause"
    time_limit: Duration = Field(timedelta(hours=24), description="For the whole rollout.")

    @model_validator(mode="after")
    def _coherent(self) -> RolloutSpec:
        if self.baseline is not None and self.baseline == self.candidate.variant:
            raise ValueError("the candidate needs a variant name of its own, not the baseline's")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"each metric may be listed once: {names}")
        if self.strategy == "shadow" and self.steps:
            raise ValueError("a shadow rollout never exposes the candidate: it takes no steps")
        if self.strategy == "shadow" and self.shadow is None:
            raise ValueError("a shadow rollout needs its shadow settings (or the defaults)")
        if self.strategy == "blue-green" and self.steps and [s.weight for s in self.steps] != [100]:
            raise ValueError("a blue-green rollout has one step, 100% of traffic")
        if self.steps is None and self.strategy == "canary":
            self.steps = [Step(weight=w) for w in CANARY_STEPS]
        if self.steps is None and self.strategy == "blue-green":
            # Time after the bake for a verdict the bake alone did not reach.
            self.steps = [Step(weight=100, time_limit=max(STEP_TIME_LIMIT, 2 * self.bake))]
        weights = [s.weight for s in self.steps or []]
        if self.strategy == "blue-green" and self.steps and self.steps[0].time_limit < self.bake:
            raise ValueError("the blue-green step's time_limit must be at least the bake")
        if any(later <= earlier for earlier, later in itertools.pairwise(weights)):
            raise ValueError(f"step weights must rise from step to step: {weights}")
        if self.analysis.interval <= timedelta(0):
            raise ValueError("analysis.interval must be positive")
        return self


class RolloutSpecError(ValueError):
    """A rollout file that cannot be read or is not a valid spec, with what is wrong where."""


def load_rollout_spec(path: Path) -> RolloutSpec:
    return load_spec_file(path, RolloutSpec, RolloutSpecError, "route and candidate")


# --- what the rollout workflow, its activities and its controls exchange ----------------------

RolloutStatusName = Literal["running", "paused", "promoted", "passed", "rolled_back", "aborted"]
"""`passed` ends a shadow rollout whose candidate proved not worse: compared, never exposed."""
FINAL_STATUSES: frozenset[str] = frozenset({"promoted", "passed", "rolled_back", "aborted"})


def rollout_id(route: str) -> str:
    """One rollout per route at a time: the route names its rollout's workflow, so Temporal
    refuses a second start while one runs."""
    return f"rollout-{route}"


class RolloutInput(BaseModel):
    spec: RolloutSpec
    state: RolloutState | None = Field(
        None, description="Carried over by continue-as-new; None for a new rollout."
    )


class TrafficChange(BaseModel):
    """Set the candidate's share of the baseline's traffic (0 takes it out of the route; 1 with
    `promote` makes it the route's baseline)."""

    route: str
    baseline: str | None
    candidate: Candidate
    share: float = Field(ge=0, le=1)
    promote: bool = False
    shadow_sample: float | None = Field(
        None,
        gt=0,
        le=1,
        description="A shadow stage: the candidate answers this share of the route's requests "
        "in the background and serves none (share 0).",
    )


class TrafficSet(BaseModel):
    version: int
    baseline: str
    """The baseline variant's name as resolved on the route."""
    live_since: datetime
    """When the new route version went live: a step's outcomes count from here."""
    weights: dict[str, float]


class MetricLook(BaseModel):
    name: str
    baseline: float
    candidate: float
    estimate: float
    ci_low: float | None
    ci_high: float | None
    """The interval's ends; None where it has none yet (no upper bound on a rate's increase
    before the arms have events to compare)."""
    p_value: float
    verdict: str
    """pass, fail or continue: this metric's own test."""
    role: str = "guardrail"
    margin: float = 0.0
    p_worse: float = 1.0
    """Always-valid p-value against 'not worse (beyond the tolerance)'."""
    p_noninferior: float = 1.0
    """Always-valid p-value against 'worse by the margin or more'."""
    holm_threshold: float = 0.0
    """The alpha this metric's harm test was held to at its Holm rank."""


class LookInput(BaseModel):
    rollout_id: str
    spec: RolloutSpec
    baseline: str
    step: int
    look: int
    share: float | None
    """The candidate's configured share of the two arms' traffic, for the sample-ratio test;
    None in a shadow stage, whose requests are copies rather than a split."""
    since: datetime
    baseline_window: tuple[datetime, datetime] | None = None
    """Blue-green at all traffic: the baseline's rows from this window before the switch stand
    for its arm (there are no current ones); None compares both arms since `since`."""
    may_pass: bool = True
    """False while a blue-green bake runs: the look tests only for harm."""
    candidate_arm: str = "primary"
    """'shadow' in a shadow stage: the candidate's outcome rows are on that arm."""
    min_requests: int = 200


class LookDecision(BaseModel):
    outcome: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    reason: str
    baseline_requests: int
    candidate_requests: int
    metrics: list[MetricLook] = Field(default_factory=list)
    srm_p_value: float | None = None
    """The sample-ratio test's always-valid p-value (the split against the configured one)."""
    alpha: float = 0.05
    min_requests: int = 0
    candidate_share: float | None = None


class DecisionRecord(BaseModel):
    """A decision with what the rollout did, stored with its evidence (store/rollout_records)."""

    rollout_id: str
    route: str
    step: int
    look: int
    stage: str
    outcome: str
    action: str
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class RolloutState(BaseModel):
    """Everything the workflow knows, in one structure: its query answers with it, and
    continue-as-new carries it."""

    route: str
    record_id: str | None = None
    """What this rollout's looks and decisions are stored under: its workflow id (the route's)
    with the run that began it, so a later rollout of the same route keeps records of its own."""
    status: RolloutStatusName = "running"
    stage: str = "starting"
    step: int = 0
    """Index of the current (or last) stage: the shadow stage if any, then spec.steps."""
    with_shadow: bool | None = None
    """Whether the stages begin with the shadow stage (decided once, at the start)."""
    look: int = 0
    baseline: str | None = None
    weights: dict[str, float] = Field(default_factory=dict)
    stage_started: datetime | None = None
    started_at: datetime | None = None
    """When the rollout began (its first run's start): the overall time limit counts from it."""
    step_ends: datetime | None = None
    """When the current step's time limit passes; None until its first look."""
    last_decision: LookDecision | None = None
    decisions: list[str] = Field(default_factory=list)
    """One line per decision taken, newest last."""


class ControlResult(BaseModel):
    status: RolloutStatusName
    stage: str
    message: str


RolloutInput.model_rebuild()
