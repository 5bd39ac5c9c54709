"""The floor of the request path: a workflow that runs one local activity doing nothing.

Kept apart from the HTTP side (benchmarks/floor_gateway.py), because the workflow sandbox imports
this module afresh for every run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

FLOOR_TASK_QUEUE = "interlock-bench-floor"


@activity.defn(name="floor_noop")
async def floor_noop(request_id: str) -> str:
    return request_id


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, request_id: str) -> str:
        return await workflow.execute_local_activity(
            floor_noop, request_id, start_to_close_timeout=timedelta(seconds=10)
        )
