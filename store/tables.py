"""Tables. Plain sqlmodel classes; workflows never import this module (sandbox pitfall)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Route(SQLModel, table=True):
    """A named entry point such as `chat`; its live variants are those of `active_version`."""

    __tablename__ = "routes"

    name: str = Field(primary_key=True, max_length=128)
    description: str = ""
    active_version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RouteVersion(SQLModel, table=True):
    """One published configuration of a route: description and guardrail policy here, variants
    in route_variants. Versions are append-only: a change writes a new version and moves
    `Route.active_version`, so every outcome can be traced to the exact configuration that
    produced it. The primary key makes each version number a route's only once, whoever publishes.
    """

    __tablename__ = "route_versions"

    route_name: str = Field(primary_key=True, foreign_key="routes.name", max_length=128)
    version: int = Field(primary_key=True)
    description: str = ""
    guardrails: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """contracts.guardrails.GuardrailPolicy as JSON; {} is the default policy."""
    shadow: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """contracts.routing.ShadowTarget as JSON: a rollout's shadow stage; None for none."""
    cache: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """contracts.routing.CachePolicy as JSON; None: the route's answers are not cached."""
    routing: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """contracts.routing.RoutingPolicy as JSON; None: weighted, without constraints."""
    slos: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """contracts.slo.Slo list as JSON; None: no SLOs."""
    created_at: datetime = Field(default_factory=utcnow)


class RouteVariant(SQLModel, table=True):
    """One provider/model a route can send traffic to, in one version of the route."""

    __tablename__ = "route_variants"
    __table_args__ = (
        UniqueConstraint("route_name", "version", "variant"),
        ForeignKeyConstraint(
            ["route_name", "version"],
            ["route_versions.route_name", "route_versions.version"],
            name="fk_route_variants_route_version",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    route_name: str = Field(foreign_key="routes.name", index=True, max_length=128)
    version: int
    variant: str = Field(max_length=64)
    position: int = 0
    provider: str = Field(max_length=64)
    model: str = Field(max_length=256)
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    system_prompt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key, stored only as its SHA-256 digest; the prefix helps people tell keys apart.

    A key may carry a request rate limit (a token bucket: `rate_limit_per_second` refill,
    `rate_limit_burst` capacity). Its bucket lives on the row when the store keeps it (no
    Redis): the tokens left and when they were counted, in seconds since the epoch by the
    database's clock, a number both SQLite and PostgreSQL do arithmetic on alike.
    """

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    scopes: str = Field(
        default="inference", max_length=64, sa_column_kwargs={"server_default": "inference"}
    )
    """What the key may do, space-separated: `inference`, `admin`."""
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None
    bucket_tokens: float | None = None
    bucket_counted_at: float | None = None


EXPERIMENT_LOOK_COLUMNS = (
    "experiment",
    "experiment_arm",
    "latency_bucket",
    "arm",
    "status",
    "cost_usd",
    "quality_score",
    "json_valid",
    "tool_calls_valid",
    "refused",
    "answer_chars",
)


class Outcome(SQLModel, table=True):
    """One row per request arm; (request_id, arm) is unique so a retried write counts once."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("request_id", "arm"),
        Index("ix_outcomes_route_variant_finished", "route", "variant", "finished_at"),
        Index("ix_outcomes_finished_provider", "finished_at", "provider", "model"),
        # Covers every column an experiment's look aggregates, so the look reads the index
        # alone; partial, so only rows in an experiment pay for it (store/rollout_stats.py).
        Index(
            "ix_outcomes_experiment_arm",
            *EXPERIMENT_LOOK_COLUMNS,
            sqlite_where=text("experiment IS NOT NULL"),
            postgresql_where=text("experiment IS NOT NULL"),
        ),
        # Each arm's distinct units, counted from the index alone (store/rollout_stats.py).
        Index(
            "ix_outcomes_experiment_unit",
            "experiment",
            "experiment_arm",
            "experiment_unit",
            sqlite_where=text("experiment IS NOT NULL"),
            postgresql_where=text("experiment IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=64)
    arm: str = Field(default="primary", max_length=16)
    tenant_id: str = Field(index=True, max_length=64)
    route: str = Field(max_length=128)
    variant: str | None = Field(default=None, max_length=64)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=256)
    status: str = Field(max_length=16)
    error_class: str | None = Field(default=None, max_length=128)
    latency_ms: float = 0.0
    latency_bucket: int | None = None
    """experiments.statistics.bucket_index(latency_ms), so latency histograms are a GROUP BY;
    NULL on rows written before revision 0003."""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False
    guardrail_action: str | None = Field(default=None, max_length=32)
    routing_reason: str | None = Field(default=None, max_length=300)
    """Why the route's policy chose this variant; NULL for plain weighted routes."""
    user_hash: str | None = Field(default=None, max_length=64)
    """The client's end user as a keyed hash (gateway/end_users.py); NULL when not given."""
    experiment: str | None = Field(default=None, max_length=64)
    """The experiment the request was assigned in, and on which arm; NULL outside one."""
    experiment_arm: str | None = Field(default=None, max_length=64)
    experiment_unit: str | None = Field(default=None, max_length=32)
    """A digest of the unit the request was assigned by (user or header value, never the value
    itself); NULL for experiments split by request, and on rows before revision 0017."""
    quality_score: float | None = None
    json_valid: bool | None = None
    """The automatic scores of an answered arm (activities/answer_scores.py); NULL otherwise."""
    tool_calls_valid: bool | None = None
    refused: bool | None = None
    answer_chars: int | None = None
    started_at: datetime
    finished_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class RolloutLook(SQLModel, table=True):
    """The statistics a rollout read at one look of one step, kept so a decision can be replayed
    and the step's history drawn. A retried activity rewrites its look rather than adding one."""

    __tablename__ = "rollout_looks"

    rollout_id: str = Field(primary_key=True, max_length=200)
    step: int = Field(primary_key=True)
    look: int = Field(primary_key=True)
    statistics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow)


class RolloutDecision(SQLModel, table=True):
    """What a rollout decided and why: the audit trail of a rollout, in the order it happened.

    (rollout_id, step, look, action) is unique so a retried activity records its decision once.
    """

    __tablename__ = "rollout_decisions"
    __table_args__ = (UniqueConstraint("rollout_id", "step", "look", "action"),)

    id: int | None = Field(default=None, primary_key=True)
    rollout_id: str = Field(max_length=200)
    route: str = Field(max_length=128)
    step: int
    look: int
    stage: str = Field(max_length=128)
    outcome: str = Field(max_length=32)
    """PASS, FAIL or INCONCLUSIVE for an analysis; the operator's verb for an operator action."""
    action: str = Field(max_length=32)
    """What the rollout did: continue, advance, rollback, pause, promote, abort..."""
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    decided_at: datetime = Field(default_factory=utcnow)


class Budget(SQLModel, table=True):
    """A tenant's spending limit per day or month, on all its routes ('*') or on one."""

    __tablename__ = "budgets"

    tenant_id: str = Field(primary_key=True, max_length=64)
    route: str = Field(primary_key=True, max_length=128)
    period: str = Field(max_length=8)
    """day or month, in UTC."""
    limit_nusd: int = Field(sa_column=Column(BigInteger, nullable=False))
    """In billionths of a US dollar: integer sums are exact, so spent never creeps past limit."""
    updated_at: datetime = Field(default_factory=utcnow)


class BudgetUsage(SQLModel, table=True):
    """What one budget's window has spent and holds reserved for requests in flight."""

    __tablename__ = "budget_usage"

    tenant_id: str = Field(primary_key=True, max_length=64)
    route: str = Field(primary_key=True, max_length=128)
    window: str = Field(primary_key=True, max_length=16)
    """2026-12-01 for a day, 2026-12 for a month."""
    reserved_nusd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    spent_nusd: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class BudgetReservation(SQLModel, table=True):
    """A request's worst-case cost held against its budgets until it settles: once per request,
    so a retried step never charges twice."""

    __tablename__ = "budget_reservations"
    __table_args__ = (
        Index("ix_budget_reservations_open", "tenant_id", "settled_at", "created_at"),
    )

    request_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    reserved_nusd: int = Field(sa_column=Column(BigInteger, nullable=False))
    charges: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """[route, window] of each budget the reservation counts against."""
    cost_nusd: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    settled_at: datetime | None = None


class CircuitBreaker(SQLModel, table=True):
    """One provider/model's breaker, shared by every gateway on the store."""

    __tablename__ = "circuit_breakers"

    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=256)
    state: str = Field(max_length=16)
    """closed, open or half_open."""
    changed_at: datetime = Field(default_factory=utcnow)
    probes_left: int = 0
    """In half_open: how many more requests may try the variant before a verdict."""
    reason: str = ""
    version: int = 0
    """Bumped by every change: a gateway changes a breaker only from the version it read."""


class CachedResponse(SQLModel, table=True):
    """A route's answer kept for a tenant's identical requests (when Redis is not configured).

    The key hashes everything that shapes the answer, the tenant among it; the tenant is also
    its own column, checked on every read, so no key can reach another tenant's answers."""

    __tablename__ = "response_cache"

    key: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    response: str = Field(sa_column=Column(Text, nullable=False))
    """contracts.chat.ChatResponse as JSON."""
    expires_at: datetime = Field(index=True)


class FeatureFlag(SQLModel, table=True):
    """A switch an operator flips without a restart: a feature shipped dark, or a kill switch."""

    __tablename__ = "feature_flags"

    name: str = Field(primary_key=True, max_length=200)
    enabled: bool
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", max_length=128)


class FlagChange(SQLModel, table=True):
    """Every flip of a flag: who, when, what, and why."""

    __tablename__ = "flag_changes"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    enabled: bool
    changed_by: str = Field(default="", max_length=128)
    reason: str = ""
    changed_at: datetime = Field(default_factory=utcnow)


class InstallationSecret(SQLModel, table=True):
    """A secret every process of one installation shares, made once (store/installation.py)."""

    __tablename__ = "installation_secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class Experiment(SQLModel, table=True):
    """One experiment: its spec, and where it stands (store/experiments.py)."""

    __tablename__ = "experiments"

    name: str = Field(primary_key=True, max_length=64)
    route: str = Field(index=True, max_length=128)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)
    """running, stopped (by a person or the SRM gate) or completed (decided, or out of time)."""
    weights: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    """The arms' current shares; a stopped arm has none."""
    winner: str | None = Field(default=None, max_length=64)
    ended_reason: str | None = None
    created_by: str = Field(default="", max_length=128)
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class ExperimentLook(SQLModel, table=True):
    """Every arm's totals at one evaluation: what the judge replays and the report draws."""

    __tablename__ = "experiment_looks"

    experiment: str = Field(primary_key=True, max_length=64)
    evaluation: str = Field(primary_key=True, max_length=200)
    """The evaluation run that looked: a retried evaluation rewrites its own look."""
    statistics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    weights: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    """The shares in force while these totals were gathered (the SRM gate's expectation)."""
    recorded_at: datetime = Field(default_factory=utcnow)


class ExperimentDecision(SQLModel, table=True):
    """What an evaluation decided for an experiment, with its numbers; once per evaluation."""

    __tablename__ = "experiment_decisions"
    __table_args__ = (UniqueConstraint("experiment", "evaluation"),)

    id: int | None = Field(default=None, primary_key=True)
    experiment: str = Field(index=True, max_length=64)
    evaluation: str = Field(max_length=200)
    action: str = Field(max_length=32)
    """continue, reweight, stop_arm, promote, report_winner, stop (SRM), expire, ..."""
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    decided_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A person's rating of one answer (POST /v1/feedback): the last one given counts."""

    __tablename__ = "feedback"

    __table_args__ = (Index("ix_feedback_experiment_arm", "experiment", "experiment_arm"),)

    request_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    value: float
    """Thumbs up 1, down 0; a score as given, in [0, 1]."""
    experiment: str | None = Field(default=None, max_length=64)
    """The rated request's experiment and arm, copied from its outcome row: an experiment's
    ratings are then read without visiting its outcome rows."""
    experiment_arm: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=8)
    """thumbs or score."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Judgement(SQLModel, table=True):
    """A judge model's comparison of two arms' answers to one request, asked in both orders."""

    __tablename__ = "judgements"
    __table_args__ = (Index("ix_judgements_experiment_arm", "experiment", "arm", "opponent"),)

    request_id: str = Field(primary_key=True, max_length=64)
    experiment: str = Field(max_length=64)
    arm: str = Field(max_length=64)
    """The arm that answered the client."""
    opponent: str = Field(max_length=64)
    """The arm asked the same request in the background."""
    verdict: str = Field(max_length=8)
    """win, loss or tie, for `arm`: a win only if the judge preferred it in both orders."""
    first_order: str = Field(max_length=8)
    """What the judge picked with `arm`'s answer shown first: 1, 2 or tie."""
    second_order: str = Field(max_length=8)
    """What it picked with the opponent's answer shown first."""
    judge_model: str = Field(max_length=256)
    judged_at: datetime = Field(default_factory=utcnow)


class SloAlert(SQLModel, table=True):
    """Where one burn-rate alert of one route's SLO stands (activities/slo_monitoring.py)."""

    __tablename__ = "slo_alerts"

    route: str = Field(primary_key=True, max_length=128)
    slo: str = Field(primary_key=True, max_length=64)
    severity: str = Field(primary_key=True, max_length=8)
    firing: bool = False
    changed_at: datetime = Field(default_factory=utcnow)
    long_burn: float = 0.0
    short_burn: float = 0.0
