"""The Temporal worker the gateway embeds: RequestWorkflow and its short local activities.

It shares the gateway's client, which is what lets `start_workflow(request_eager_start=True)` hand
the first workflow task straight to this worker without a round trip through the task queue.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.provider_calls import ProviderActivities
from activities.providers import ProviderRegistry
from activities.request_steps import RequestStepActivities
from activities.streaming import StreamChannels, StreamingActivities
from configuration import Settings
from guardrails.registry import default_registry
from workflows.request import RequestWorkflow


def build_request_worker(
    client: Client, settings: Settings, engine: Engine, registry: ProviderRegistry
) -> Worker:
    steps = RequestStepActivities(engine, registry, default_registry())
    activities = [steps.admit, steps.settle, steps.bedrock_guardrail]
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


def build_stream_worker(
    client: Client, task_queue: str, registry: ProviderRegistry, channels: StreamChannels
) -> Worker:
    """The worker on this process's private queue: streamed calls land where their client is."""
    streaming = StreamingActivities(registry, channels, default_registry())
    return Worker(
        client,
        task_queue=task_queue,
        activities=[streaming.stream_provider],
        max_concurrent_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
