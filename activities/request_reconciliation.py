"""Settling the requests whose workflow ended without settling itself.

A request settles in its own workflow, by its own deadline, even when its gateway dies mid-task
and another runs it again (workflows/provider_chain.request_deadline). Only the execution timeout,
the backstop, can end a request before that: when no gateway could run it for several task
timeouts after its deadline (all of them down, or a server too overloaded to hand the task out),
or when an operator terminates it. Such a request would leave no outcome row, and a missing
failure biases every later decision about its arm toward the one that hung.

So a Schedule (operations/schedules.py) runs `settle_abandoned_requests` every minute: it lists
the request workflows that closed without completing in the last minutes, and settles each one
that has no outcome row as its workflow would have, an error on the arm it tried first, through
the same `settle_outcome` (budget holds released, rows written once per arm). A late settle of
the workflow itself and this one can both run: the rows' unique key keeps the first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.request_steps import settle_outcome
from contracts.reconciliation import ReconciliationResult
from contracts.request import RequestError, RequestInput
from guardrails.registry import default_registry
from store.tables import Outcome
from workflows.selection import pick_target
from workflows.settling import settle_input

# Each close status that skips settling, and the error code its outcome row gets.
ABANDONED = {
    WorkflowExecutionStatus.TIMED_OUT: "request_abandoned_timed_out",
    WorkflowExecutionStatus.TERMINATED: "request_abandoned_terminated",
    WorkflowExecutionStatus.FAILED: "request_abandoned_failed",
    WorkflowExecutionStatus.CANCELED: "request_abandoned_canceled",
}
_STATUS_NAMES = {
    WorkflowExecutionStatus.TIMED_OUT: "TimedOut",
    WorkflowExecutionStatus.TERMINATED: "Terminated",
    WorkflowExecutionStatus.FAILED: "Failed",
    WorkflowExecutionStatus.CANCELED: "Canceled",
}


class RequestReconciliationActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client, self._engine = client, engine
        self._scanner = default_registry()

    @activity.defn(name="settle_abandoned_requests")
    async def settle_abandoned(self, lookback_seconds: float) -> ReconciliationResult:
        since = datetime.now(UTC) - timedelta(seconds=lookback_seconds)
        closed = [
            execution
            async for execution in self._client.list_workflows(abandoned_query(since))
            if execution.status in ABANDONED
        ]
        result = ReconciliationResult(examined=len(closed))
        recorded = await asyncio.to_thread(self._recorded, [e.id for e in closed])
        for execution in closed:
            if execution.id in recorded:
                continue
            try:
                request = await self._input_of(execution)
                settled = await asyncio.to_thread(self._settle, request, execution)
            except Exception as exc:  # one unreadable request must not stop the pass
                activity.logger.warning(
                    "request %s ended without settling and cannot be settled: %s",
                    execution.id,
                    exc,
                )
                settled = False
            (result.settled if settled else result.unsettleable).append(execution.id)
        if result.settled:
            activity.logger.warning(
                "settled %d request(s) whose workflow ended without settling: %s",
                len(result.settled),
                ", ".join(result.settled[:10]),
            )
        return result

    def _recorded(self, request_ids: list[str]) -> set[str]:
        if not request_ids:
            return set()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(Outcome.request_id).where(Outcome.request_id.in_(request_ids)).distinct()  # type: ignore[attr-defined]
            )
            return {row[0] for row in rows}

    async def _input_of(self, execution: WorkflowExecution) -> RequestInput:
        handle = self._client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [request] = await self._client.data_converter.decode(started.input.payloads, [RequestInput])
        return request

    def _settle(self, request: RequestInput, execution: WorkflowExecution) -> bool:
        admitted = request.admitted
        if admitted is None or admitted.route.error is not None or admitted.checked is None:
            return False
        route = admitted.route
        target = pick_target(route.targets, request.request_id)
        started = execution.start_time
        finished = execution.close_time or datetime.now(UTC)
        code = ABANDONED[execution.status]  # type: ignore[index]
        error = RequestError(
            type="timeout",
            message=f"the request's workflow ended {_STATUS_NAMES[execution.status]} "  # type: ignore[index]
            "without settling",
            http_status=504,
            code=code,
        )
        settle = settle_input(
            request,
            route.route,
            target,
            "primary",
            admitted.checked,
            route.guardrails,
            started,
            finished,
            error=error,
        )
        settle_outcome(self._engine, self._scanner, settle)
        return True


def abandoned_query(since: datetime) -> str:
    statuses = " OR ".join(f"ExecutionStatus = '{name}'" for name in _STATUS_NAMES.values())
    return (
        f"WorkflowType = 'RequestWorkflow' AND ({statuses}) "
        f"AND CloseTime > '{since.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    )
