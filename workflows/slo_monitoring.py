"""SloMonitoringWorkflow: one check of every route's SLOs, started by a Temporal Schedule every
minute. The alerts firing are set on the run as the `InterlockAlerts` search attribute, so the
Web UI finds them (`InterlockAlerts IS NOT NULL`, or one by name); changes go to the webhook, and
a route burning its budget fast has its rollout paused for a person.

Workflow code: deterministic; activities are called by name.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.slo import SloCheck
    from workflows.search_attributes import ALERTS

STEP = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10)),
}


@workflow.defn(name="SloMonitoring")
class SloMonitoringWorkflow:
    @workflow.run
    async def run(self) -> SloCheck:
        check = await workflow.execute_activity("check_slos", result_type=SloCheck, **STEP)
        if check.firing:
            workflow.upsert_search_attributes([ALERTS.value_set(check.firing)])
        if check.changes:
            await workflow.execute_activity(
                "send_alert_changes", check.changes, result_type=int, **STEP
            )
        if check.routes_burning_fast:
            await workflow.execute_activity(
                "pause_rollouts_burning_fast",
                check.routes_burning_fast,
                result_type=list[str],
                **STEP,
            )
        return check
