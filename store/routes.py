"""Routes and their versions: variants and guardrail policy, published together.

Publishing is read-modify-write (compare with the live version, pick the next number), so it
runs with the route serialized: the route row locked (SELECT ... FOR UPDATE) on PostgreSQL, the
database's write lock taken up front (BEGIN IMMEDIATE) on SQLite. The (route, version) primary
key of route_versions backs that up: a publisher that still loses a race (two creating the same
new route) fails on the key and the whole publication is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from contracts.guardrails import GuardrailPolicy
from contracts.routing import CachePolicy, RouteTarget, RoutingPolicy, ShadowTarget
from contracts.slo import Slo
from store.tables import Route, RouteVariant, RouteVersion, utcnow

# Each retry follows a commit by another publisher, so a few are plenty.
PUBLISH_ATTEMPTS = 5


class RouteConfig(BaseModel):
    """Everything one version of a route holds."""

    name: str
    description: str = ""
    targets: list[RouteTarget]
    guardrails: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    shadow: ShadowTarget | None = None
    cache: CachePolicy | None = None
    routing: RoutingPolicy | None = None
    slos: list[Slo] = Field(default_factory=list)


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: int
    change: Literal["created", "new version", "unchanged"]

    def describe(self) -> str:
        if self.change == "created":
            return f"created (version {self.version})"
        if self.change == "new version":
            return f"new version {self.version}"
        return f"unchanged (version {self.version})"


# Computes the configuration to publish from the live one (None for a new route).
ConfigChange = Callable[[RouteConfig | None], RouteConfig]


def check_targets(targets: Sequence[RouteTarget]) -> None:
    """The rules every version's variants follow; raises ValueError naming the broken one."""
    if not targets:
        raise ValueError("a route needs at least one variant")
    names = [t.variant for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique within a route: {names}")
    if sum(t.weight for t in targets) <= 0:
        raise ValueError("at least one variant needs a positive weight")


def publish_routes(engine: Engine, configs: Sequence[RouteConfig]) -> list[PublishResult]:
    """Publish every config in one transaction (all or none); one result per config, in order.

    A config equal to its route's live version writes nothing, so applying the same file again
    does not grow the history.
    """
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"each route may be published once per call: {names}")
    for config in configs:
        check_targets(config.targets)
    by_name = {c.name: c for c in configs}
    results = _publish(engine, {name: _replace_with(config) for name, config in by_name.items()})
    return [results[name] for name in names]


def publish_route(
    engine: Engine, name: str, targets: list[RouteTarget], description: str = ""
) -> int:
    """Write `targets` as a new version of route `name` and make it live; returns the version.

    The guardrail policy carries over from the live version, and so does the description unless
    one is given. Publishing the live targets again writes nothing and returns that version.
    """
    check_targets(targets)

    def change(live: RouteConfig | None) -> RouteConfig:
        if live is None:
            return RouteConfig(name=name, description=description, targets=targets)
        return live.model_copy(
            update={"targets": targets, "description": description or live.description}
        )

    return _publish(engine, {name: change})[name].version


def set_guardrails(engine: Engine, name: str, policy: GuardrailPolicy) -> int:
    """Publish the live variants with `policy` as a new version (if it differs); returns it."""

    def change(live: RouteConfig | None) -> RouteConfig:
        if live is None:
            raise ValueError(f"no route named {name!r}")
        return live.model_copy(update={"guardrails": policy})

    return _publish(engine, {name: change})[name].version


def change_route(
    engine: Engine, name: str, change: ConfigChange
) -> tuple[PublishResult, RouteConfig]:
    """Publish `change(live config)` as the route's next version, read and written in one
    transaction (so two writers never both change the same version); what was published."""
    published: list[RouteConfig] = []

    def recorded(live: RouteConfig | None) -> RouteConfig:
        published.append(change(live))  # called again if a concurrent publisher forced a retry
        return published[-1]

    return _publish(engine, {name: recorded})[name], published[-1]


def live_config(engine: Engine, name: str) -> tuple[int, RouteConfig] | None:
    """(version, configuration) of the route's live version, or None for an unknown route."""
    with Session(engine) as session:
        route = session.get(Route, name)
        if route is None:
            return None
        return route.active_version, _config_at(session, name, route.active_version)


def config_at(engine: Engine, name: str, version: int) -> RouteConfig | None:
    """The configuration of one version of a route, live or not; None if there is no such one."""
    with Session(engine) as session:
        if session.get(RouteVersion, (name, version)) is None:
            return None
        return _config_at(session, name, version)


def live_targets(engine: Engine, name: str) -> tuple[int, list[RouteTarget]] | None:
    """(version, targets in position order) of the live version, or None for an unknown route."""
    found = live_config(engine, name)
    return None if found is None else (found[0], found[1].targets)


def list_routes(engine: Engine) -> list[Route]:
    with Session(engine) as session:
        return list(session.exec(select(Route).order_by(Route.name)))


def _replace_with(config: RouteConfig) -> ConfigChange:
    return lambda _live: config


def _publish(engine: Engine, changes: dict[str, ConfigChange]) -> dict[str, PublishResult]:
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            with Session(engine) as session:
                if engine.dialect.name == "sqlite":
                    # Reads then writes in one transaction: take the write lock before the reads,
                    # or two publishers would both read the same live version.
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                # Routes in name order, so two multi-route publications never lock in a cycle.
                results = {
                    name: _publish_one(session, name, changes[name]) for name in sorted(changes)
                }
                session.commit()
                return results
        except IntegrityError:
            if attempt == PUBLISH_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _publish_one(session: Session, name: str, change: ConfigChange) -> PublishResult:
    route = session.exec(select(Route).where(Route.name == name).with_for_update()).first()
    live = None if route is None else _config_at(session, name, route.active_version)
    wanted = change(live)
    check_targets(wanted.targets)
    if route is not None and wanted == live:
        return PublishResult(name, route.active_version, "unchanged")
    latest = session.exec(
        select(func.max(RouteVersion.version)).where(RouteVersion.route_name == name)
    ).one()
    version = (latest or 0) + 1
    created = route is None
    if route is None:
        route = Route(name=name, description=wanted.description, active_version=version)
    else:
        route.active_version = version
        route.description = wanted.description
        route.updated_at = utcnow()
    session.add(route)
    session.flush()  # the rows below reference the route
    session.add(
        RouteVersion(
            route_name=name,
            version=version,
            description=wanted.description,
            guardrails=wanted.guardrails.model_dump(mode="json"),
            shadow=None if wanted.shadow is None else wanted.shadow.model_dump(mode="json"),
            cache=None if wanted.cache is None else wanted.cache.model_dump(mode="json"),
            routing=None if wanted.routing is None else wanted.routing.model_dump(mode="json"),
            slos=[slo.model_dump(mode="json") for slo in wanted.slos] or None,
        )
    )
    session.flush()  # and the variants reference the version
    for position, target in enumerate(wanted.targets):
        session.add(
            RouteVariant(
                route_name=name,
                version=version,
                variant=target.variant,
                position=position,
                provider=target.provider,
                model=target.model,
                weight=target.weight,
                options=target.options,
                system_prompt=target.system_prompt,
            )
        )
    session.flush()
    return PublishResult(name, version, "created" if created else "new version")


def _config_at(session: Session, name: str, version: int) -> RouteConfig:
    row = session.get(RouteVersion, (name, version))
    variants = session.exec(
        select(RouteVariant)
        .where(RouteVariant.route_name == name, RouteVariant.version == version)
        .order_by(RouteVariant.position)  # type: ignore[arg-type]
    )
    return RouteConfig(
        name=name,
        description="" if row is None else row.description,
        targets=[
            RouteTarget(
                variant=v.variant,
                provider=v.provider,
                model=v.model,
                weight=v.weight,
                options=v.options,
                system_prompt=v.system_prompt,
            )
            for v in variants
        ],
        guardrails=GuardrailPolicy.model_validate({} if row is None else row.guardrails),
        shadow=None
        if row is None or row.shadow is None
        else ShadowTarget.model_validate(row.shadow),
        cache=None if row is None or row.cache is None else CachePolicy.model_validate(row.cache),
        routing=None
        if row is None or row.routing is None
        else RoutingPolicy.model_validate(row.routing),
        slos=[] if row is None or not row.slos else [Slo.model_validate(s) for s in row.slos],
    )
