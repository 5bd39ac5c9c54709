"""What GET /v1/models lists: every route, and every model a configured provider is known to
serve as provider/model, each with what it can do."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from gateway.openai_answers import ModelCard
from store.routes import list_routes, live_config

# Every adapter passes tools through and streams; a capability a route or model lacked would be
# listed as False here.
BASE_CAPABILITIES = {"tools": True, "streaming": True}


def model_cards(engine: Engine, registry: ProviderRegistry) -> list[ModelCard]:
    cards = []
    for route in list_routes(engine):
        found = live_config(engine, route.name)
        if found is None:
            continue
        config = found[1]
        windows = [
            window
            for t in config.targets
            if (provider := registry.get(t.provider)) is not None
            and (window := provider.context_window(t.model, t.options)) is not None
        ]
        cards.append(
            ModelCard(
                id=route.name,
                created=int(route.created_at.timestamp()),
                kind="route",
                variants=[f"{t.provider}/{t.model}" for t in config.targets],
                capabilities={
                    **BASE_CAPABILITIES,
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
                        **BASE_CAPABILITIES,
                        "context_window": provider.context_window(model, {}),
                        "input_price_per_mtok": None if prices is None else prices[0],
                        "output_price_per_mtok": None if prices is None else prices[1],
                    },
                )
            )
    return cards
