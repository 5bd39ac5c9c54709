"""What GET /v1/models lists: every route, and every model a configured provider is known to
serve as provider/model, each with what it can do (None where unknown)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from activities.providers.model_catalog import CAPABILITIES, UNKNOWN, ModelCapabilities
from gateway.openai_answers import ModelCard
from store.routes import list_routes, live_config


def model_cards(engine: Engine, registry: ProviderRegistry) -> list[ModelCard]:
    cards = []
    for route in list_routes(engine):
        found = live_config(engine, route.name)
        if found is None:
            continue
        config = found[1]
        known = [
            UNKNOWN
            if (p := registry.get(t.provider)) is None
            else p.capabilities(t.model, t.options)
            for t in config.targets
        ]
        windows = [k.context_window for k in known if k.context_window is not None]
        cards.append(
            ModelCard(
                id=route.name,
                created=int(route.created_at.timestamp()),
                kind="route",
                variants=[f"{t.provider}/{t.model}" for t in config.targets],
                capabilities={
                    "streaming": True,
                    # A request needing a capability goes to the variants that have it, so the
                    # route has what any of its variants has.
                    **{name: _any(k.has(name) for k in known) for name in CAPABILITIES},
                    "context_window": min(windows) if windows else None,
                    "cache_ttl_seconds": None if config.cache is None else config.cache.ttl_seconds,
                    "routing": "weighted" if config.routing is None else config.routing.kind,
                },
            )
        )
    for name in registry.names():
        provider = registry.get(name)
        assert provider is not None
        for model in provider.known_models():
            prices = provider.prices(model, {})
            cards.append(
                ModelCard(
                    id=f"{name}/{model}",
                    created=0,
                    owned_by=name,
                    kind="model",
                    capabilities={
                        "streaming": True,
                        **_listed(provider.capabilities(model, {})),
                        "region": provider.region(model, {}),
                        "input_price_per_mtok": None if prices is None else prices[0],
                        "output_price_per_mtok": None if prices is None else prices[1],
                    },
                )
            )
    return cards


def _listed(known: ModelCapabilities) -> dict[str, Any]:
    return {
        "context_window": known.context_window,
        **{name: known.has(name) for name in CAPABILITIES},
    }


def _any(values: Any) -> bool | None:
    """True if any is True, False if all are False, else unknown."""
    seen = list(values)
    if any(v is True for v in seen):
        return True
    return False if seen and all(v is False for v in seen) else None
