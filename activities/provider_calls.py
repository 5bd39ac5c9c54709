"""The provider call activity: one attempt at one provider; Temporal owns the retries."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers import ChatProvider, ProviderError, ProviderRegistry
from contracts.chat import ChatResponse
from contracts.request import ProviderCallInput


def configured_provider(registry: ProviderRegistry, name: str) -> ChatProvider:
    """The provider a call names, or a non-retryable error: no retry can configure it."""
    provider = registry.get(name)
    if provider is None:
        raise ApplicationError(
            f"provider {name!r} is not configured on this worker",
            type="ProviderNotConfigured",
            non_retryable=True,
        )
    return provider


class ProviderActivities:
    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    @activity.defn(name="call_provider")
    async def call_provider(self, call: ProviderCallInput) -> ChatResponse:
        provider = configured_provider(self._registry, call.target.provider)
        try:
            return await provider.complete(
                call.request_id, call.target, call.chat, activity.info().attempt
            )
        except ProviderError as exc:
            raise exc.to_application_error() from exc
