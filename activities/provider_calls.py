"""The provider call activity: one attempt at one provider; Temporal owns the retries."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers import ProviderError, ProviderRegistry
from contracts.chat import ChatResponse
from contracts.request import ProviderCallInput


class ProviderActivities:
    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    @activity.defn(name="call_provider")
    async def call_provider(self, call: ProviderCallInput) -> ChatResponse:
        provider = self._registry.get(call.target.provider)
        if provider is None:
            raise ApplicationError(
                f"provider {call.target.provider!r} is not configured on this worker",
                type="ProviderNotConfigured",
                non_retryable=True,
            )
        try:
            return await provider.complete(
                call.request_id, call.target, call.chat, activity.info().attempt
            )
        except ProviderError as exc:
            raise exc.to_application_error() from exc
