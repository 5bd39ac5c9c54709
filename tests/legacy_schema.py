"""The tables as they were before migrations existed (store/tables.py at that time), frozen.

Tests create a database from this with create_all, the way that code did, to check that
migrations adopt it. The classes live on their own registry so they do not clash with today's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class LegacyModel(SQLModel, registry=registry()):
    pass


class Route(LegacyModel, table=True):
    """A named entry point such as `chat`; its live variants are those of `active_version`."""

    __tablename__ = "routes"

    name: str = Field(primary_key=True, max_length=128)
    description: str = ""
    active_version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RouteVariant(LegacyModel, table=True):
    """One provider/model a route can send traffic to, in one version of the route.

    Versions are append-only: a change writes a new version and moves `Route.active_version`,
    so every outcome can be traced to the exact configuration that produced it.
    """

    __tablename__ = "route_variants"
    __table_args__ = (UniqueConstraint("route_name", "version", "variant"),)

    id: int | None = Field(default=None, primary_key=True)
    route_name: str = Field(foreign_key="routes.name", index=True, max_length=128)
    version: int
    variant: str = Field(max_length=64)
    position: int = 0
    provider: str = Field(max_length=64)
    model: str = Field(max_length=256)
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Tenant(LegacyModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(LegacyModel, table=True):
    """An API key, stored only as its SHA-256 digest; the prefix helps people tell keys apart."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Outcome(LegacyModel, table=True):
    """One row per request arm; (request_id, arm) is unique so a retried write counts once."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("request_id", "arm"),
        Index("ix_outcomes_route_variant_finished", "route", "variant", "finished_at"),
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
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cache_hit: bool = False
    guardrail_action: str | None = Field(default=None, max_length=32)
    quality_score: float | None = None
    started_at: datetime
    finished_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class RouteGuardrails(LegacyModel, table=True):
    """A route's guardrail policy (contracts.guardrails.GuardrailPolicy as JSON)."""

    __tablename__ = "route_guardrails"

    route_name: str = Field(primary_key=True, foreign_key="routes.name", max_length=128)
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
