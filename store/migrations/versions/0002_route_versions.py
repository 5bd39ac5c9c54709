"""Route versions: one row per (route, version), the guardrail policy versioned with the route.

Before this revision a version existed only as variant rows, so two publishers that picked the
same next number both wrote it and the version held both variant sets; the new primary key lets
only one of them have it. The guardrail policy moves from route_guardrails (one per route,
changed in place) onto the version, so a change of policy is a new version too.

Existing versions get a row each; the route's current policy goes onto its live version (older
versions get the default policy: which policy they ran with was not recorded).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_routes = sa.table(
    "routes",
    sa.column("name", sa.String()),
    sa.column("description", sa.String()),
    sa.column("active_version", sa.Integer()),
)
_variants = sa.table(
    "route_variants",
    sa.column("route_name", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_policies = sa.table(
    "route_guardrails",
    sa.column("route_name", sa.String()),
    sa.column("policy", sa.JSON()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_versions = sa.table(
    "route_versions",
    sa.column("route_name", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("description", sa.String()),
    sa.column("guardrails", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "route_versions",
        sa.Column("route_name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["route_name"], ["routes.name"]),
        sa.PrimaryKeyConstraint("route_name", "version"),
    )
    _copy_versions(op.get_bind())
    with op.batch_alter_table("route_variants") as batch:
        batch.create_foreign_key(
            "fk_route_variants_route_version",
            "route_versions",
            ["route_name", "version"],
            ["route_name", "version"],
        )
    op.drop_table("route_guardrails")


def _copy_versions(connection: sa.Connection) -> None:
    routes = {
        name: (description, active)
        for name, description, active in connection.execute(
            sa.select(_routes.c.name, _routes.c.description, _routes.c.active_version)
        )
    }
    policies = {
        name: policy
        for name, policy in connection.execute(
            sa.select(_policies.c.route_name, _policies.c.policy)
        )
    }
    created = {
        (name, version): first
        for name, version, first in connection.execute(
            sa.select(
                _variants.c.route_name,
                _variants.c.version,
                sa.func.min(_variants.c.created_at),
            ).group_by(_variants.c.route_name, _variants.c.version)
        )
    }
    # A live version always gets a row, even if (against every writer's rules) it has no variants.
    for name, (_description, active) in routes.items():
        created.setdefault((name, active), None)
    now = datetime.now(UTC)
    rows = [
        {
            "route_name": name,
            "version": version,
            "description": routes[name][0],
            "guardrails": policies.get(name, {}) if version == routes[name][1] else {},
            "created_at": first or now,
        }
        for (name, version), first in sorted(created.items())
        if name in routes
    ]
    if rows:
        op.bulk_insert(_versions, rows)


def downgrade() -> None:
    op.create_table(
        "route_guardrails",
        sa.Column("route_name", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["route_name"], ["routes.name"]),
        sa.PrimaryKeyConstraint("route_name"),
    )
    connection = op.get_bind()
    live = connection.execute(
        sa.select(_versions.c.route_name, _versions.c.guardrails, _versions.c.created_at).join(
            _routes,
            sa.and_(
                _routes.c.name == _versions.c.route_name,
                _routes.c.active_version == _versions.c.version,
            ),
        )
    ).all()
    rows = [
        {"route_name": name, "policy": policy, "updated_at": created}
        for name, policy, created in live
        if policy
    ]
    if rows:
        op.bulk_insert(_policies, rows)
    with op.batch_alter_table("route_variants") as batch:
        batch.drop_constraint("fk_route_variants_route_version", type_="foreignkey")
    op.drop_table("route_versions")
