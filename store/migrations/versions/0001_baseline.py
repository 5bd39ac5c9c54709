"""Baseline: the tables as SQLModel.metadata.create_all made them before migrations existed.

Every table and index is created IF NOT EXISTS, so a database made by that code (no
alembic_version table) is adopted by upgrading it: what it has is kept, what it lacks is added
(route_guardrails came later than the others), and the revision is recorded.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("name"),
        if_not_exists=True,
    )
    op.create_table(
        "route_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(["route_name"], ["routes.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("route_name", "version", "variant"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_route_variants_route_name", "route_variants", ["route_name"], if_not_exists=True
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        if_not_exists=True,
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"], if_not_exists=True)
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_class", sa.String(length=128), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("guardrail_action", sa.String(length=32), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        _timestamp("started_at"),
        _timestamp("finished_at"),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "arm"),
        if_not_exists=True,
    )
    op.create_index("ix_outcomes_tenant_id", "outcomes", ["tenant_id"], if_not_exists=True)
    op.create_index(
        "ix_outcomes_route_variant_finished",
        "outcomes",
        ["route", "variant", "finished_at"],
        if_not_exists=True,
    )
    op.create_table(
        "route_guardrails",
        sa.Column("route_name", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(["route_name"], ["routes.name"]),
        sa.PrimaryKeyConstraint("route_name"),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in ("route_guardrails", "outcomes", "api_keys", "tenants", "route_variants"):
        op.drop_table(table)
    op.drop_table("routes")
