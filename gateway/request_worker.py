"""The Temporal worker the gateway embeds: RequestWorkflow and its short local activities.

It shares the gateway's client, which is what lets `start_workflow(request_eager_start=True)` hand
the first workflow task straight to this worker without a round trip through the task queue.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.guardrails import GuardrailActivities
from activities.outcomes import OutcomeActivities
from activities.provider_calls import ProviderActivities
from activities.providers import ProviderRegistry
from activities.routing import RoutingActivities
from configuration import Settings
from guardrails.registry import default_registry
from workflows.request import RequestWorkflow


def build_request_worker(
    client: Client, settings: Settings, engine: Engine, registry: ProviderRegistry
) -> Worker:
    routing = RoutingActivities(engine, registry)
    outcomes = OutcomeActivities(engine)
    guardrails = GuardrailActivities(default_registry())
    activities = [
        routing.resolve_route,
        outcomes.record_outcome,
        guardrails.check_input,
        guardrails.check_output,
    ]
    if settings.provider_calls_in_gateway:
        activities.append(ProviderActivities(registry).call_provider)
    return Worker(
        client,
        task_queue=settings.request_task_queue,
        workflows=[RequestWorkflow],
        activities=activities,
        max_concurrent_workflow_tasks=100,
        max_concurrent_local_activities=100,
        max_concurrent_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
