"""RequestWorkflow with one call the workflow sandbox forbids, for tests/test_replay.py.

A module of its own: the sandbox imports a workflow's module to validate it, and a test module
imports more than the sandbox can load."""

from __future__ import annotations

import time

from temporalio import workflow

from contracts.request import RequestInput, RequestResult
from workflows.request import RequestWorkflow


@workflow.defn(name="RequestWorkflow")
class ClockReadingRequestWorkflow(RequestWorkflow):
    """Reads the wall clock instead of workflow.now()."""

    @workflow.run
    async def run(self, request: RequestInput) -> RequestResult:
        time.time()
        return await super().run(request)
