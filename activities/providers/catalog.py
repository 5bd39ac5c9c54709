"""Builds the provider registry a process uses from its settings."""

from __future__ import annotations

from activities.providers.base import ProviderRegistry
from activities.providers.simulated import SimulatedProvider
from configuration import Settings


def build_registry(settings: Settings) -> ProviderRegistry:
    return ProviderRegistry(
        [
            SimulatedProvider(
                seed=settings.simulator_seed, latency_scale=settings.simulator_latency_scale
            )
        ]
    )
