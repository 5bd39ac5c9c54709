"""Routes and their versioned variants."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from contracts.routing import RouteTarget
from store.tables import Route, RouteVariant, utcnow


def publish_route(
    engine: Engine, name: str, targets: list[RouteTarget], description: str = ""
) -> int:
    """Write `targets` as a new version of route `name` and make it live; returns the version.

    Publishing the same targets as the live version writes nothing and returns that version, so
    seeding at every start does not grow the history.
    """
    if not targets:
        raise ValueError("a route needs at least one variant")
    names = [t.variant for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique within a route: {names}")
    if sum(t.weight for t in targets) <= 0:
        raise ValueError("at least one variant needs a positive weight")
    with Session(engine) as session:
        route = session.get(Route, name)
        if route is not None and _live_targets(session, route) == targets:
            return route.active_version
        version = 1 if route is None else _latest_version(session, name) + 1
        if route is None:
            route = Route(name=name, description=description, active_version=version)
        else:
            route.active_version = version
            route.updated_at = utcnow()
            if description:
                route.description = description
        session.add(route)
        session.flush()
        for position, target in enumerate(targets):
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
                )
            )
        session.commit()
        return version


def live_targets(engine: Engine, name: str) -> tuple[int, list[RouteTarget]] | None:
    """(version, targets in position order) of the live version, or None for an unknown route."""
    with Session(engine) as session:
        route = session.get(Route, name)
        if route is None:
            return None
        return route.active_version, _live_targets(session, route)


def list_routes(engine: Engine) -> list[Route]:
    with Session(engine) as session:
        return list(session.exec(select(Route).order_by(Route.name)))


def _live_targets(session: Session, route: Route) -> list[RouteTarget]:
    rows = session.exec(
        select(RouteVariant)
        .where(RouteVariant.route_name == route.name, RouteVariant.version == route.active_version)
        .order_by(RouteVariant.position)  # type: ignore[arg-type]
    )
    return [
        RouteTarget(
            variant=row.variant,
            provider=row.provider,
            model=row.model,
            weight=row.weight,
            options=row.options,
        )
        for row in rows
    ]


def _latest_version(session: Session, name: str) -> int:
    versions = session.exec(select(RouteVariant.version).where(RouteVariant.route_name == name))
    return max(versions, default=0)
