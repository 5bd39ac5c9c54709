"""Reading a request's workflow history: which provider calls it made and what each was sent.

A call made as an activity is an ActivityTaskScheduled event with its input; a call made inside
the workflow task is a local-step marker whose result (or, when every attempt failed, whose
failure) carries the call.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

PROVIDER_ACTIVITIES = {"call_provider", "stream_provider"}
# Local steps that call a provider: alone, or settling after the answer.
LOCAL_PROVIDER_CALLS = {"call_provider_in_task", "call_and_settle"}


@dataclass
class ProviderCall:
    how: str
    """"activity" or "local"."""
    sent: dict[str, Any]
    """The ProviderCallInput, as JSON."""
    task_queue: str | None = None
    """The activity's task queue; None for a call inside the workflow task."""
    failed: bool = False
    attempts: int = 1
    """How many attempts the call took (the last one's number)."""


async def finished_workflow(client: Client, request_id: str) -> WorkflowHandle:
    """The request's workflow once it has completed: a history read earlier would lack the
    steps still running."""
    handle = client.get_workflow_handle(request_id)
    await asyncio.wait_for(handle.result(), timeout=30)
    return handle


async def provider_calls(client: Client, request_id: str) -> list[ProviderCall]:
    history = await (await finished_workflow(client, request_id)).fetch_history()
    calls: list[ProviderCall] = []
    by_scheduled_event: dict[int, ProviderCall] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if (call := by_scheduled_event.get(started.scheduled_event_id)) is not None:
                call.attempts = started.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name not in PROVIDER_ACTIVITIES:
                continue
            [sent] = await client.data_converter.decode(scheduled.input.payloads)
            calls.append(ProviderCall("activity", sent, scheduled.task_queue.name))
            by_scheduled_event[event.event_id] = calls[-1]
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            step = json.loads(marker.details["data"].payloads[0].data)
            if step["activity_type"] not in LOCAL_PROVIDER_CALLS:
                continue
            if marker.HasField("failure"):
                failure = marker.failure
                while not failure.HasField("application_failure_info"):
                    failure = failure.cause
                payloads = failure.application_failure_info.details.payloads
                [sent] = await client.data_converter.decode(payloads)
                calls.append(ProviderCall("local", sent, failed=True, attempts=step["attempt"]))
            else:
                [record] = await client.data_converter.decode(marker.details["result"].payloads)
                calls.append(ProviderCall("local", record["sent"], attempts=step["attempt"]))
    return calls


async def listed(client: Client, query: str, wanted: str, seconds: float = 10.0) -> bool:
    """Whether a visibility `query` lists the workflow `wanted` within `seconds`: visibility
    records are written after the history, so a run just finished may not be listed yet."""
    for _ in range(int(seconds / 0.1)):
        if wanted in [run.id async for run in client.list_workflows(query)]:
            return True
        await asyncio.sleep(0.1)
    return False
