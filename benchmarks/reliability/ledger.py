"""What the store and Temporal hold after a scenario: every started request settled once.

The outcome table's unique key on (request id, arm) makes a duplicate row impossible to write, so
the checks here count what a broken path would leave instead: request workflows still running
after their deadline, started workflows with no outcome row (lost), answered requests with no row,
and (as a guard on the key itself) any (request id, arm) with more than one row.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio.client import Client

from contracts.reconciliation import ReconciliationResult
from operations.schedules import REQUEST_RECONCILIATION

REQUEST_WORKFLOWS = "WorkflowType = 'RequestWorkflow'"


@dataclass
class Ledger:
    request_workflows: int
    still_running: int
    outcome_requests: int
    outcome_rows: int
    duplicate_rows: int
    answered_without_row: int
    unsettled_endings: dict[str, int]
    """How the request workflows that did not complete normally ended, by status."""
    settled_by_reconciliation: int
    """Of those, how many the reconciliation pass settled (activities/request_reconciliation)."""

    @property
    def lost(self) -> int:
        """Started request workflows that left no outcome row."""
        return max(0, self.request_workflows - self.outcome_requests)

    def figures(self) -> dict[str, int]:
        return {
            "request_workflows": self.request_workflows,
            "still_running": self.still_running,
            "outcome_requests": self.outcome_requests,
            "outcome_rows": self.outcome_rows,
            "duplicate_rows": self.duplicate_rows,
            "lost": self.lost,
            "answered_without_row": self.answered_without_row,
            "unsettled_endings": self.unsettled_endings,
            "settled_by_reconciliation": self.settled_by_reconciliation,
        }


async def settled_ledger(
    client: Client, engine: Engine, answered_ids: set[str], timeout: float
) -> Ledger:
    """Wait (up to `timeout`) for every request workflow to end, then take the ledger."""
    deadline = time.monotonic() + timeout
    running = await _count(client, f"{REQUEST_WORKFLOWS} AND ExecutionStatus = 'Running'")
    while running and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        running = await _count(client, f"{REQUEST_WORKFLOWS} AND ExecutionStatus = 'Running'")
    # Visibility trails the workflows a little: count until two readings agree.
    total, previous = await _count(client, REQUEST_WORKFLOWS), -1
    while total != previous and time.monotonic() < deadline + 10:
        await asyncio.sleep(1.0)
        total, previous = await _count(client, REQUEST_WORKFLOWS), total
    reconciled = await reconcile_now(client, timeout=60)
    endings: dict[str, int] = {}
    async for execution in client.list_workflows(
        f"{REQUEST_WORKFLOWS} AND ExecutionStatus != 'Completed'"
    ):
        status = execution.status.name if execution.status is not None else "UNKNOWN"
        endings[status] = endings.get(status, 0) + 1
    with engine.connect() as connection:
        requests, rows = connection.execute(
            text("SELECT COUNT(DISTINCT request_id), COUNT(*) FROM outcomes")
        ).one()
        duplicates = connection.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT request_id, arm FROM outcomes "
                "GROUP BY request_id, arm HAVING COUNT(*) > 1) AS repeated"
            )
        ).scalar_one()
        recorded = {row[0] for row in connection.execute(text("SELECT request_id FROM outcomes"))}
    return Ledger(
        request_workflows=total,
        still_running=running,
        outcome_requests=requests,
        outcome_rows=rows,
        duplicate_rows=duplicates,
        answered_without_row=len(answered_ids - recorded),
        unsettled_endings=endings,
        settled_by_reconciliation=len(reconciled.settled),
    )


async def reconcile_now(client: Client, timeout: float) -> ReconciliationResult:
    """Run the reconciliation Schedule's workflow now, rather than wait for its minute."""
    triggered_at = datetime.now(UTC) - timedelta(seconds=1)
    await client.get_schedule_handle(REQUEST_RECONCILIATION).trigger()
    query = (
        "WorkflowType = 'RequestReconciliation' AND "
        f"StartTime > '{triggered_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    )
    async with asyncio.timeout(timeout):
        while True:
            async for execution in client.list_workflows(query):
                handle = client.get_workflow_handle(
                    execution.id, run_id=execution.run_id, result_type=ReconciliationResult
                )
                return await handle.result()
            await asyncio.sleep(0.5)


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count
