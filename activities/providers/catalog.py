"""Builds the provider registry a process uses from its settings."""

from __future__ import annotations

import os

from activities.providers.base import ChatProvider, ProviderRegistry
from activities.providers.simulated import SimulatedProvider
from configuration import Settings
from configuration.settings import ProviderConfig


def build_registry(settings: Settings) -> ProviderRegistry:
    providers: list[ChatProvider] = [
        SimulatedProvider(
            seed=settings.simulator_seed, latency_scale=settings.simulator_latency_scale
        )
    ]
    providers += [build_provider(config) for config in settings.providers]
    return ProviderRegistry(providers)


def build_provider(config: ProviderConfig) -> ChatProvider:
    # Imported here so a process only loads the SDKs of the providers it is configured with.
    api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if config.kind == "openai":
        from activities.providers.openai_compat import OpenAICompatProvider

        if not config.base_url:
            raise ValueError(f"provider {config.name!r}: an OpenAI-compatible entry needs base_url")
        return OpenAICompatProvider(
            config.name, config.base_url, api_key, models=config.models, region=config.region
        )
    if config.kind == "bedrock":
        from activities.providers.bedrock import BedrockProvider

        return BedrockProvider(
            config.name,
            region=config.region,
            endpoint_url=config.endpoint_url,
            models=config.models,
        )
    from activities.providers.gemini import GeminiProvider

    return GeminiProvider(
        config.name,
        api_key=api_key,
        base_url=config.base_url,
        vertexai=config.vertexai,
        project=config.project,
        location=config.location,
        models=config.models,
    )
