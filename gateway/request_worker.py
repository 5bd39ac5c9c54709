"""The Temporal worker the gateway embeds: RequestWorkflow and its short local activities.

It shares the gateway's client, which is what lets `start_workflow(request_eager_start=True)` hand
the first workflow task straight to this worker without a round trip through the task queue.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.admission import Admission
from activities.provider_calls import ProviderActivities
from activities.providers import ProviderRegistry
from activities.request_steps import RequestStepActivities
from activities.streaming import StreamChannels, StreamingActivities
from configuration import Settings
from gateway.answer_handoff import AnswerHandOff, HandOffInterceptor
from guardrails.findings import Registry
from workflows.request import RequestWorkflow

# Every request is a workflow run, and the sandbox costs each of them CPU on every activation and
# every payload it serializes (on this 2-core machine, unsandboxed served about 15% more requests
# a second: docs/performance.md). So RequestWorkflow runs unsandboxed, which is sound because its
# modules (workflows/, contracts/, guardrails/) are pure and keep no state between runs, and the
# suite checks it: tests/test_replay.py replays every recorded history under the full sandbox,
# where a clock, random number or I/O call in workflow code fails the replay.
REQUEST_WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def build_request_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    registry: ProviderRegistry,
    admission: Admission,
    scanner: Registry,
    handoff: AnswerHandOff,
) -> Worker:
    providers = ProviderActivities(registry)
    steps = RequestStepActivities(engine, admission, scanner, providers)
    activities = [steps.admit, steps.settle, steps.bedrock_guardrail]
    if settings.provider_calls_in_gateway:
        # The other two forms of the call serve routes with a Bedrock output check, and
        # requests started before calls and settling shared a step.
        activities += [
            steps.call_and_settle,
            providers.call_provider_in_task,
            providers.call_provider,
        ]
    return Worker(
        client,
        task_queue=settings.request_task_queue,
        workflows=[RequestWorkflow],
        activities=activities,
        workflow_runner=REQUEST_WORKFLOW_RUNNER,
        interceptors=[HandOffInterceptor(handoff)],
        max_concurrent_workflow_tasks=100,
        max_concurrent_local_activities=100,
        max_concurrent_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def build_stream_worker(
    client: Client,
    task_queue: str,
    registry: ProviderRegistry,
    channels: StreamChannels,
    scanner: Registry,
) -> Worker:
    """The worker on this process's private queue: streamed calls land where their client is."""
    streaming = StreamingActivities(registry, channels, scanner)
    return Worker(
        client,
        task_queue=task_queue,
        activities=[streaming.stream_provider],
        max_concurrent_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
