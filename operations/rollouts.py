"""What an operator does to rollouts, through a Temporal client: start, list, read, steer.

The CLI (`interlock rollout ...`) is a thin shell over these; every failure an operator can cause
(a bad file, an unknown route or id, a control that does not apply now) is a RolloutCommandError
with a message that says what to do, never a traceback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.rollout_traffic import TrafficError, with_candidate_share
from contracts.rollout import (
    ControlResult,
    RolloutInput,
    RolloutSpec,
    RolloutState,
    TrafficChange,
    rollout_id,
)
from store.experiments import running_on_route
from store.routes import live_config
from workflows.rollout import RolloutWorkflow
from workflows.search_attributes import ROUTE, STAGE, STATUS

CONTROLS = ("pause", "resume", "promote", "promote_full", "abort")


class RolloutCommandError(Exception):
    """What went wrong, in words an operator can act on."""


def check_startable(engine: Engine, spec: RolloutSpec) -> str:
    """Refuse at once what the workflow could only fail on; the baseline's name if it can start."""
    found = live_config(engine, spec.route)
    if found is None:
        raise RolloutCommandError(f"no route named {spec.route!r}")
    experiment = running_on_route(engine, spec.route)
    if experiment is not None:
        # The experiment's assignment would take the traffic the rollout's steps move.
        raise RolloutCommandError(
            f"route {spec.route!r} has a running experiment, {experiment.name!r}: a rollout "
            f"beside it would not get the traffic it is judged on; stop the experiment first "
            f"(interlock experiment stop {experiment.name})"
        )
    change = TrafficChange(
        route=spec.route, baseline=spec.baseline, candidate=spec.candidate, share=0.0
    )
    try:
        _config, baseline = with_candidate_share(found[1], change)
    except TrafficError as exc:
        raise RolloutCommandError(str(exc)) from None
    return baseline


async def start_rollout(client: Client, engine: Engine, spec: RolloutSpec, queue: str) -> str:
    check_startable(engine, spec)
    workflow_id = rollout_id(spec.route)
    try:
        await client.start_workflow(
            RolloutWorkflow.run,
            RolloutInput(spec=spec),
            id=workflow_id,
            task_queue=queue,
            # One rollout per route: a second start while one runs is refused, and a finished
            # one's id is free again.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            # Set now, not by the workflow's first task, so a list right after start shows them.
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ROUTE, spec.route),
                    SearchAttributePair(STAGE, "starting"),
                    SearchAttributePair(STATUS, "running"),
                ]
            ),
            static_summary=f"rollout of {spec.candidate.variant} "
            f"({spec.candidate.provider}/{spec.candidate.model}) on route {spec.route}",
        )
    except WorkflowAlreadyStartedError:
        raise RolloutCommandError(
            f"a rollout of route {spec.route!r} is already running ({workflow_id}): "
            "abort it or let it finish first"
        ) from None
    return workflow_id


async def running_rollout_on(client: Client, route: str) -> str | None:
    """The id of the route's running rollout, or None."""
    handle = client.get_workflow_handle(rollout_id(route))
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return handle.id if description.status == WorkflowExecutionStatus.RUNNING else None


async def rollout_status(client: Client, workflow_id: str) -> dict[str, Any]:
    """The rollout's state: queried while it runs, its result once it has ended."""
    handle = client.get_workflow_handle(workflow_id, result_type=RolloutState)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RolloutCommandError(f"no rollout with id {workflow_id!r}") from None
        raise
    if description.workflow_type != "RolloutWorkflow":
        raise RolloutCommandError(f"{workflow_id!r} is not a rollout")
    if description.status == WorkflowExecutionStatus.RUNNING:
        state = await handle.query(RolloutWorkflow.status, result_type=RolloutState)
    elif description.status == WorkflowExecutionStatus.COMPLETED:
        state = await handle.result()
    else:
        name = description.status.name.lower() if description.status else "unknown"
        raise RolloutCommandError(f"rollout {workflow_id!r} ended without a result: {name}")
    return {"id": workflow_id, **state.model_dump(mode="json")}


async def list_rollouts(client: Client) -> list[dict[str, Any]]:
    rows = []
    async for run in client.list_workflows('WorkflowType = "RolloutWorkflow"'):
        attributes = run.typed_search_attributes
        rows.append(
            {
                "id": run.id,
                "route": attributes.get(ROUTE),
                "stage": attributes.get(STAGE) or "starting",
                "status": attributes.get(STATUS) or "running",
                "started": run.start_time.isoformat(),
            }
        )
    return rows


async def control_rollout(
    client: Client, workflow_id: str, verb: str, reason: str | None = None
) -> ControlResult:
    if verb not in CONTROLS:
        raise RolloutCommandError(f"unknown control {verb!r}; one of {', '.join(CONTROLS)}")
    if reason is not None and verb != "abort":
        raise RolloutCommandError("only an abort takes a reason")
    handle = client.get_workflow_handle(workflow_id)
    try:
        if reason is not None:
            return await handle.execute_update(verb, reason, result_type=ControlResult)
        return await handle.execute_update(verb, result_type=ControlResult)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause)
        raise RolloutCommandError(f"{verb}: {message}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # Unknown, or already ended: say which.
            state = await rollout_status(client, workflow_id)
            raise RolloutCommandError(
                f"rollout {workflow_id!r} has ended ({state['status']}): nothing to {verb}"
            ) from None
        raise
    except WorkflowFailureError as exc:
        raise RolloutCommandError(f"{verb}: {exc.cause}") from None
