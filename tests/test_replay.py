"""Replay safety: today's RequestWorkflow must replay every recorded history.

A request is in flight for up to its execution timeout, so during a rolling deploy a new worker
picks up workflow tasks of requests an older version started. The histories under
tests/histories/ were recorded from real runs (tests/record_histories.py) by each shape the
workflow has had; a change that cannot replay one of them would fail those requests, so it fails
the suite instead (change the step behind `workflow.patched`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError
from temporalio.workflow import NondeterminismError

from codec import EncryptionCodec
from codec.keyring import KeyRing
from tests.clock_reading_workflow import ClockReadingRequestWorkflow
from workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from workflows.request import RequestWorkflow
from workflows.request_reconciliation import RequestReconciliationWorkflow
from workflows.rollout import RolloutWorkflow
from workflows.slo_monitoring import SloMonitoringWorkflow

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*/*.json"))


@workflow.defn(name="RequestWorkflow")
class ChangedRequestWorkflow:
    """A later version that waits before admission: its first command no longer matches."""

    @workflow.run
    async def run(self, request: dict) -> None:
        await workflow.sleep(1)


def _converter():
    ring = KeyRing.from_json((HISTORIES / "keyring.json").read_text(encoding="utf-8"))
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def test_there_are_histories_of_every_scenario() -> None:
    scenarios = {path.stem for path in RECORDED}
    assert {"plain", "streamed", "fallback", "blocked", "redacted", "cache-hit"} <= scenarios


# Each set holds one workflow's histories, named by its prefix (request-vN, rollout-vN, ...).
WORKFLOW_OF_SET = {
    "request": RequestWorkflow,
    "rollout": RolloutWorkflow,
    "experiment": ExperimentEvaluationWorkflow,
    "slo": SloMonitoringWorkflow,
    "reconciliation": RequestReconciliationWorkflow,
}


def test_there_are_histories_of_the_scheduled_workflows() -> None:
    recorded = {(path.parent.name.split("-")[0], path.stem) for path in RECORDED}
    assert {("experiment", "continued"), ("experiment", "promoted")} <= recorded
    assert {("experiment", "not-evaluated"), ("slo", "quiet"), ("slo", "firing")} <= recorded
    assert {("reconciliation", "settled"), ("reconciliation", "nothing-left")} <= recorded


def test_there_are_rollout_histories_of_every_ending() -> None:
    endings = {path.stem for path in RECORDED if path.parent.name.startswith("rollout-")}
    assert {"promoted", "rolled-back", "steered"} <= endings


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_recorded_history_replays(path: Path) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    workflow_class = WORKFLOW_OF_SET[path.parent.name.split("-")[0]]
    replayer = Replayer(workflows=[workflow_class], data_converter=_converter())
    await replayer.replay_workflow(history)  # raises on any nondeterminism


async def test_a_changed_step_is_caught_by_replay() -> None:
    """The replay check itself can fail: a workflow that schedules something else does not pass."""
    recorded = json.loads((HISTORIES / "request-v1" / "plain.json").read_text(encoding="utf-8"))
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(
        workflows=[ChangedRequestWorkflow],
        data_converter=_converter(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)


async def test_the_sandboxed_replay_catches_what_the_unsandboxed_worker_would_not() -> None:
    """Production runs RequestWorkflow unsandboxed; these replays run it in the full sandbox, so
    a non-deterministic call in workflow code fails the suite instead."""
    recorded = json.loads((HISTORIES / "request-v4" / "plain.json").read_text(encoding="utf-8"))
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(workflows=[ClockReadingRequestWorkflow], data_converter=_converter())
    # The replayer reports the failed workflow task, whose failure names the sandbox's error.
    with pytest.raises(RuntimeError, match=RestrictedWorkflowAccessError.__name__):
        await replayer.replay_workflow(history)
    unsandboxed = Replayer(
        workflows=[ClockReadingRequestWorkflow],
        data_converter=_converter(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await unsandboxed.replay_workflow(history)  # what production alone would not notice


def test_nondeterminism_fails_the_task_not_the_request() -> None:
    """A NondeterminismError must leave the workflow open for a compatible worker to pick up,
    not fail the request: the workflow's failure types are the ones bugs raise, nothing wider."""
    from temporalio.workflow import _Definition

    definition = _Definition.from_class(RequestWorkflow)
    assert definition is not None
    failure_types = definition.failure_exception_types
    assert failure_types, "unexpected errors must still fail the workflow, not hang it"
    assert not any(issubclass(NondeterminismError, kind) for kind in failure_types)
    assert any(issubclass(TypeError, kind) for kind in failure_types)
