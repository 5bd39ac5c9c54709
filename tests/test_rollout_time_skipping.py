"""Whole rollouts at their real durations, on the time-skipping test server: the minimal file's
defaults (looks every 30 s, steps of 30 minutes, a 24-hour limit) play out in seconds.

The store is real SQLite and the activities are the worker's own; only time is skipped. Nothing
sends traffic, which is the case these tests are for: a rollout that never gets data must never
promote, must not stay half-deployed, and must say why at each decision.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from configuration import Settings
from configuration.temporal import build_data_converter
from contracts.rollout import RolloutSpec, RolloutState
from contracts.routing import RouteTarget
from operations.rollouts import control_rollout, start_rollout
from store.engine import create_store_engine
from store.rollout_records import decisions_of
from store.routes import live_targets, publish_route
from store.schema import init_schema
from worker import control_worker
from workflows import search_attributes

TEST_SERVER = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "temporal-test-server"
QUEUE = "rollouts-time-skipped"


@pytest.fixture
async def skipping(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=build_data_converter(settings),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in search_attributes.ALL
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_schema(engine)
    return engine


async def run_rollout(env: WorkflowEnvironment, engine: Engine, spec: RolloutSpec, steer=None):
    async with control_worker(env.client, engine, QUEUE):
        workflow_id = await start_rollout(env.client, engine, spec, QUEUE)
        if steer is not None:
            await steer(workflow_id)
        handle = env.client.get_workflow_handle(workflow_id, result_type=RolloutState)
        # A handle the rollout commands did not start: move time on until the rollout has ended.
        for _ in range(2000):
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                break
            await env.sleep(timedelta(minutes=5))
        assert description.close_time is not None
        return await handle.result(), description.close_time - description.start_time


def minimal_spec(route: str, **overrides) -> RolloutSpec:
    """The issue's four-line file, with defaults for everything else."""
    return RolloutSpec.model_validate(
        {
            "route": route,
            "strategy": "canary",
            "candidate": {"variant": "smart", "provider": "simulated", "model": "sim-smart"},
            "analysis": {"interval": "30s"},
            **overrides,
        }
    )


def publish(engine: Engine) -> str:
    route = f"quiet-{uuid.uuid4().hex[:8]}"
    publish_route(
        engine, route, [RouteTarget(variant="base", provider="simulated", model="sim-fast")]
    )
    return route


async def test_a_rollout_without_traffic_pauses_then_ends_at_its_time_limit(
    skipping: WorkflowEnvironment, store: Engine
) -> None:
    route = publish(store)
    state, took = await run_rollout(skipping, store, minimal_spec(route))
    # The shadow stage looked every 30 s for its 30 minutes, then paused (the default); nobody
    # came, and at 24 hours the rollout took the candidate back.
    assert state.status == "rolled_back"
    assert timedelta(hours=24) <= took < timedelta(hours=25)
    assert 55 <= state.look <= 61
    decisions = decisions_of(store, state.record_id)
    assert [(d.stage, d.outcome, d.action) for d in decisions] == [
        ("shadow 10%", "INCONCLUSIVE", "pause"),
        ("shadow 10%", "INCONCLUSIVE", "rollback"),
    ]
    assert "collecting: 0 of 200" in decisions[0].reason
    assert "time limit passed while it was paused" in decisions[1].reason
    _version, targets = live_targets(store, route)
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]


async def test_on_inconclusive_rollback_ends_the_first_step_without_data(
    skipping: WorkflowEnvironment, store: Engine
) -> None:
    route = publish(store)
    spec = minimal_spec(route, shadow=None, on_inconclusive="rollback")
    state, took = await run_rollout(skipping, store, spec)
    assert (state.status, state.stage) == ("rolled_back", "baseline")
    # The first step's 30-minute limit, not the rollout's 24 hours.
    assert timedelta(minutes=30) <= took < timedelta(minutes=32)
    [decision] = decisions_of(store, state.record_id)
    assert (decision.stage, decision.action) == ("canary 1%", "rollback")


async def test_an_operator_promotes_a_quiet_rollout_step_by_step_to_active(
    skipping: WorkflowEnvironment, store: Engine
) -> None:
    """Manual promotion is the operator's call, data or not: each promote skips one stage."""
    route = publish(store)

    async def promote_every_stage(workflow_id: str) -> None:
        for _stage in range(5):  # the shadow stage and four canary steps
            await control_rollout(skipping.client, workflow_id, "promote")

    state, _took = await run_rollout(skipping, store, minimal_spec(route), promote_every_stage)
    assert (state.status, state.stage) == ("promoted", "active")
    stages = [d.stage for d in decisions_of(store, state.record_id)]
    assert stages == ["shadow 10%", "canary 1%", "canary 5%", "canary 25%", "canary 50%"]
    _version, targets = live_targets(store, route)
    assert [(t.variant, t.model) for t in targets] == [("smart", "sim-smart")]
