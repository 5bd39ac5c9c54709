"""Load with a worker and then a gateway SIGKILLed mid-run.

`interlock dev` must restart each crashed child and say so; every request must end (an answer
or a clear error) before its deadline; every request workflow that started must settle, with
exactly one outcome row per request arm.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from benchmarks.reliability.ledger import settled_ledger
from benchmarks.reliability.report import ScenarioReport
from benchmarks.reliability.stack import API_KEY, REQUEST_TIMEOUT_SECONDS, scenario_stack
from benchmarks.reliability.traffic import send_requests
from devstack.launch import pids_by_role

# When each kill comes, as a share of the requests sent.
KILLS = (("worker", 0.25), ("gateway", 0.6))
# A request that lost its gateway is run again by the next one after the workflow task times out
# (10 s), well inside its own deadline.
SETTLE_SECONDS = REQUEST_TIMEOUT_SECONDS + 30


async def run(
    workdir: Path, requests: int, concurrency: int, database_url: str | None = None
) -> ScenarioReport:
    report = ScenarioReport("load with a worker and a gateway killed")
    async with scenario_stack(workdir, database_url) as stack:
        killed: list[str] = []
        due = [(role, int(requests * share)) for role, share in KILLS]

        def kill_when_due(sent: int) -> None:
            for role, at in due:
                if sent == at:
                    os.kill(pids_by_role(stack.run.home)[role], signal.SIGKILL)
                    killed.append(role)

        traffic = await send_requests(
            stack.base_url,
            API_KEY,
            "chat",
            requests,
            concurrency,
            deadline_seconds=REQUEST_TIMEOUT_SECONDS + 10,
            on_progress=kill_when_due,
        )
        ledger = await settled_ledger(
            stack.client, stack.engine, traffic.answered_ids, SETTLE_SECONDS
        )
        output = stack.run.output()
        report.figures = {
            "database": "postgresql" if database_url else "sqlite",
            "concurrency": concurrency,
            "killed": killed,
            **traffic.figures(),
            **ledger.figures(),
        }
        report.check("every request ended before its deadline", traffic.hung == 0, traffic.hung)
        report.check(
            "every request got an answer or a clear error",
            traffic.ended == traffic.sent and not traffic.unclear,
            traffic.unclear[:3],
        )
        # A dropped connection is either a request the gateway held when it died, or one sent
        # on a kept-alive connection to it that the client had not yet seen closed: at most one
        # of each per client connection.
        report.check(
            "only requests the dead gateway held, or sent on its stale connections, were dropped",
            traffic.connection_lost <= 2 * concurrency,
            traffic.connection_lost,
        )
        report.check(
            "the supervisor restarted the worker and the gateway",
            all(f"{role} restarted" in output for role, _ in KILLS),
            [line for line in output.splitlines() if "restart" in line],
        )
        report.check(
            "no request workflow is left running", ledger.still_running == 0, ledger.still_running
        )
        report.check("no started request lost its outcome", ledger.lost == 0, ledger.lost)
        report.check(
            "every answered request has its outcome row",
            ledger.answered_without_row == 0,
            ledger.answered_without_row,
        )
        report.check(
            "no request arm was recorded twice", ledger.duplicate_rows == 0, ledger.duplicate_rows
        )
        if not report.held:
            report.diagnostics = stack.run.diagnostics()
    return report
