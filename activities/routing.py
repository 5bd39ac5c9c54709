"""Route resolution: a route name or 'provider/model' -> the targets a request may go to."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.providers import ProviderRegistry
from contracts.routing import ResolvedRoute, ResolveRouteInput, RouteTarget
from store.routes import live_targets


class RoutingActivities:
    def __init__(self, engine: Engine, registry: ProviderRegistry) -> None:
        self._engine = engine
        self._registry = registry

    @activity.defn(name="resolve_route")
    async def resolve_route(self, query: ResolveRouteInput) -> ResolvedRoute:
        return await asyncio.to_thread(self.resolve, query.model)

    def resolve(self, name: str) -> ResolvedRoute:
        found = live_targets(self._engine, name)
        if found is not None:
            version, targets = found
            unusable = [t for t in targets if not self._servable(t)]
            if unusable:
                names = ", ".join(f"{t.variant} ({t.provider}/{t.model})" for t in unusable)
                return ResolvedRoute(
                    route=name,
                    version=version,
                    error=f"route {name!r} has variants no configured provider can serve: {names}",
                )
            return ResolvedRoute(route=name, version=version, targets=targets)
        provider, sep, model = name.partition("/")
        if sep and model:
            target = RouteTarget(variant="explicit", provider=provider, model=model)
            if self._servable(target):
                return ResolvedRoute(route=name, targets=[target])
            return ResolvedRoute(route=name, error=f"no configured provider serves {name!r}")
        return ResolvedRoute(
            route=name,
            error=f"the model {name!r} is neither a route nor a configured 'provider/model'",
        )

    def _servable(self, target: RouteTarget) -> bool:
        provider = self._registry.get(target.provider)
        return provider is not None and provider.knows_model(target.model, target.options)
