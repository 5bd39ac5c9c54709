"""The Temporal Schedules Interlock runs by: created or brought up to date by each worker at
start, so every deployment with a worker has them and a changed interval takes effect on the next
worker start.

All skip a run while the previous one is still going (one evaluation at a time judges each look
once), and catch up on one missed run within ten minutes of a server or worker outage: each run
reads everything since the start (or its windows), so one late run does the work of all missed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from configuration import Settings
from contracts.experiment import EvaluationRequest

EXPERIMENT_EVALUATION = "interlock-experiment-evaluation"
SLO_MONITORING = "interlock-slo-monitoring"
REQUEST_RECONCILIATION = "interlock-request-reconciliation"
REQUEST_RECONCILIATION_EVERY = timedelta(minutes=1)
CATCH_UP_WINDOW = timedelta(minutes=10)


def experiment_evaluation_schedule(
    settings: Settings,
    schedule_id: str = EXPERIMENT_EVALUATION,
    request: EvaluationRequest | None = None,
) -> Schedule:
    """Every running experiment (or those `request` names), every so many seconds."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "ExperimentEvaluation",
            request or EvaluationRequest(),
            id=schedule_id,
            task_queue=settings.control_task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(
                    every=timedelta(seconds=settings.experiment_evaluation_every_seconds)
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCH_UP_WINDOW),
    )


def slo_monitoring_schedule(settings: Settings) -> Schedule:
    """Every route's SLOs, every minute; a check still running makes the next one skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "SloMonitoring",
            id=SLO_MONITORING,
            task_queue=settings.control_task_queue,
            execution_timeout=timedelta(minutes=5),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.slo_check_every_seconds))
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCH_UP_WINDOW),
    )


def request_reconciliation_schedule(settings: Settings) -> Schedule:
    """Requests whose workflow ended without settling, settled every minute."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "RequestReconciliation",
            id=REQUEST_RECONCILIATION,
            task_queue=settings.control_task_queue,
            execution_timeout=timedelta(minutes=5),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=REQUEST_RECONCILIATION_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCH_UP_WINDOW),
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    await ensure_schedule(client, EXPERIMENT_EVALUATION, experiment_evaluation_schedule(settings))
    await ensure_schedule(client, SLO_MONITORING, slo_monitoring_schedule(settings))
    await ensure_schedule(client, REQUEST_RECONCILIATION, request_reconciliation_schedule(settings))


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the Schedule, or bring what it does and when up to date."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # What it does and when, brought up to date; its state (paused by a person, say)
            # stays as it is.
            kept = current.description.schedule
            kept.action, kept.spec, kept.policy = schedule.action, schedule.spec, schedule.policy
            return ScheduleUpdate(schedule=kept)

        await client.get_schedule_handle(schedule_id).update(updated)
