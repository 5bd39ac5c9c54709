"""RequestReconciliationWorkflow: one pass of settling the requests whose workflow ended without
settling itself (activities/request_reconciliation.py), started by a Temporal Schedule every
minute. It looks back further than the Schedule's catch-up window, so a pass missed during an
outage is made up by the next; a request already settled is skipped.

Workflow code: deterministic; the activity is called by name.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.reconciliation import ReconciliationResult

LOOKBACK = timedelta(minutes=15)


@workflow.defn(name="RequestReconciliation")
class RequestReconciliationWorkflow:
    @workflow.run
    async def run(self) -> ReconciliationResult:
        return await workflow.execute_activity(
            "settle_abandoned_requests",
            LOOKBACK.total_seconds(),
            result_type=ReconciliationResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10)),
        )
