"""Route resolution: a route name or 'provider/model' -> the targets a request may go to."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from contracts.routing import ResolvedRoute, RouteTarget
from store.routes import RouteConfig, live_config
from store.short_lived import ShortLived


class RouteResolver:
    def __init__(self, engine: Engine, registry: ProviderRegistry) -> None:
        self._engine = engine
        self._registry = registry
        # Live versions read in the last second: a newly published version serves within a
        # second in every process; names that are no route are read every time.
        self._live: ShortLived[str, tuple[int, RouteConfig]] = ShortLived()

    def resolve(self, name: str) -> ResolvedRoute:
        # Variants and guardrail policy come from one version, read together.
        found = self._live.get(name, lambda route: live_config(self._engine, route))
        if found is not None:
            version, config = found
            targets = config.targets
            problems = [
                f"{t.variant} ({t.provider}/{t.model}): {problem}"
                for t in targets
                if (problem := self._problem(t)) is not None
            ]
            if problems:
                return ResolvedRoute(
                    route=name,
                    version=version,
                    error=f"route {name!r} has variants that cannot be served: "
                    + "; ".join(problems),
                )
            shadow = config.shadow
            if shadow is not None and self._problem(shadow.target) is not None:
                shadow = None  # a shadow this process cannot call is skipped, never an error
            return ResolvedRoute(
                route=name,
                version=version,
                targets=targets,
                guardrails=config.guardrails,
                shadow=shadow,
                cache=config.cache,
                routing=config.routing,
            )
        provider, sep, model = name.partition("/")
        if sep and model:
            target = RouteTarget(variant="explicit", provider=provider, model=model)
            problem = self._problem(target)
            if problem is None:
                return ResolvedRoute(route=name, targets=[target])
            return ResolvedRoute(route=name, error=f"{name!r} cannot be served: {problem}")
        return ResolvedRoute(
            route=name,
            error=f"the model {name!r} is neither a route nor a configured 'provider/model'",
        )

    def _problem(self, target: RouteTarget) -> str | None:
        provider = self._registry.get(target.provider)
        if provider is None:
            return f"no provider named {target.provider!r} is configured"
        return provider.target_problem(target.model, target.options)
