"""The Temporal Schedules Interlock runs by: created or brought up to date by each worker at
start, so every deployment with a worker has them and a changed interval takes effect on the next
worker start.

The experiment evaluation skips a run while the previous one is still going (one evaluation at a
time judges each look once), and catches up on one missed run within ten minutes of a server or
worker outage: evaluations are cumulative, so one late run does the work of all it missed.
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
CATCH_UP_WINDOW = timedelta(minutes=10)


def experiment_evaluation_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "ExperimentEvaluation",
            EvaluationRequest(),
            id=EXPERIMENT_EVALUATION,
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


async def ensure_schedules(client: Client, settings: Settings) -> None:
    schedule = experiment_evaluation_schedule(settings)
    try:
        await client.create_schedule(EXPERIMENT_EVALUATION, schedule)
    except ScheduleAlreadyRunningError:

        def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # What it does and when, brought up to date; its state (paused by a person, say)
            # stays as it is.
            kept = current.description.schedule
            kept.action, kept.spec, kept.policy = schedule.action, schedule.spec, schedule.policy
            return ScheduleUpdate(schedule=kept)

        await client.get_schedule_handle(EXPERIMENT_EVALUATION).update(updated)
