"""The provider call: one attempt at one provider; Temporal owns the retries.

Two forms of the same call: an activity (on the gateway's queue or on `interlock worker`s') and a
local step inside the request's workflow task, whose result also records what was sent.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers import ChatProvider, ProviderError, ProviderRegistry
from contracts.chat import ChatResponse
from contracts.request import ProviderCallInput, ProviderCallRecord


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

    @activity.defn(name="call_provider_in_task")
    async def call_provider_in_task(self, call: ProviderCallInput) -> ProviderCallRecord:
        return ProviderCallRecord(sent=call, response=await self.call_in_task(call))

    async def call_in_task(self, call: ProviderCallInput) -> ChatResponse:
        """The call as a local step makes it: its failure carries the call, because the failure
        is all the history keeps of a failed local step."""
        try:
            return await self.call_provider(call)
        except ApplicationError as exc:
            raise ApplicationError(
                exc.message,
                call,
                type=exc.type,
                non_retryable=exc.non_retryable,
                next_retry_delay=exc.next_retry_delay,
            ) from exc
