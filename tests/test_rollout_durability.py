"""A rollout outlives its histories, its workers and its server: a step long enough for the server
to suggest continue-as-new goes on in fresh runs with its whole state, and a worker killed or a
server restarted mid-rollout changes no decision and loses no look."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from configuration import Settings
from configuration.temporal import build_data_converter
from contracts.rollout import RolloutState
from devstack.dev_server import dev_server_flags
from devstack.supervisor import temporal_binary
from operations.rollouts import (
    RolloutCommandError,
    control_rollout,
    rollout_status,
    start_rollout,
)
from store import create_store_engine, init_schema
from store.rollout_records import decisions_of, looks_of_step
from store.routes import live_targets
from tests.conftest import free_port
from tests.interlock_process import start_interlock
from tests.rollout_helpers import publish_baseline, spec_for
from worker import control_worker

QUEUE = "rollout-durability"


async def test_a_long_step_continues_as_new_and_keeps_its_state(
    settings: Settings, tmp_path: Path
) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_database_filename=str(tmp_path / "temporal.db"),
        # The server suggests continue-as-new after 40 events instead of thousands.
        dev_server_extra_args=[
            *dev_server_flags(),
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
        data_converter=build_data_converter(settings),
    )
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_schema(engine)
    try:
        async with control_worker(env.client, engine, QUEUE):

            class Stack:  # what the helpers read
                pass

            stack = Stack()
            stack.engine = engine  # type: ignore[attr-defined]
            publish_baseline(stack, "long-step")
            # No traffic: every look is inconclusive, and looks come every 200 ms.
            spec = spec_for("long-step", 0.0, analysis={"interval": "200ms"})
            started = await start_rollout(env.client, engine, spec, QUEUE)
            runs = await wait_for_runs(env, started, at_least=3)
            assert runs >= 3
            aborted = await control_rollout(env.client, started, "abort")
            assert "aborted" in aborted.message
            handle = env.client.get_workflow_handle(started, result_type=RolloutState)
            state = await asyncio.wait_for(handle.result(), 30)
        assert state.status == "aborted" and state.step == 0
        # Look numbers ran on across the runs: a run holds at most five looks before the
        # suggestion (about eight events each), and every number has its one stored look.
        assert state.look > 5
        assert len(looks_of_step(engine, state.record_id, 0)) == state.look
        assert [d.action for d in decisions_of(engine, state.record_id)] == ["abort"]
        _version, targets = live_targets(engine, "long-step")
        assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    finally:
        engine.dispose()
        await env.shutdown()


async def wait_for_runs(env: WorkflowEnvironment, workflow_id: str, at_least: int) -> int:
    """How many runs the rollout has had, once it has had `at_least` (bounded: 60 s)."""
    runs = 0
    for _ in range(300):
        runs = 0
        continued = 0
        async for run in env.client.list_workflows(f'WorkflowId = "{workflow_id}"'):
            runs += 1
            continued += run.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        if continued >= at_least - 1:
            return runs
        await asyncio.sleep(timedelta(milliseconds=200).total_seconds())
    return runs


KILL_QUEUE = "rollout-worker-kill"


def start_worker(stack) -> subprocess.Popen:
    return start_interlock(stack, "worker", INTERLOCK_CONTROL_TASK_QUEUE=KILL_QUEUE)


async def test_a_killed_worker_changes_no_decision_and_loses_no_look(stack) -> None:
    publish_baseline(stack, "killed-worker")
    first = start_worker(stack)
    second = None
    try:
        spec = spec_for("killed-worker", 0.0, analysis={"interval": "200ms"})
        started = await start_rollout(stack.client, stack.engine, spec, KILL_QUEUE)
        at_kill = await looks_reach(stack.client, started, 3)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(stack)
        # Another worker picks the rollout up where the killed one left it.
        await looks_reach(stack.client, started, at_kill + 3)
        await control_rollout(stack.client, started, "abort")
        handle = stack.client.get_workflow_handle(started, result_type=RolloutState)
        state = await asyncio.wait_for(handle.result(), 60)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(30)
    assert state.status == "aborted"
    assert len(looks_of_step(stack.engine, state.record_id, 0)) == state.look
    assert [d.action for d in decisions_of(stack.engine, state.record_id)] == ["abort"]
    _version, targets = live_targets(stack.engine, "killed-worker")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]


def start_dev_server(db_file: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--db-filename",
            str(db_file),
            "--log-level",
            "error",
            *dev_server_flags(),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_server_restart_mid_rollout_changes_no_decision(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    db_file = tmp_path / "temporal.db"
    server = start_dev_server(db_file, port)
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_schema(engine)
    try:
        client = await connect_when_up(f"127.0.0.1:{port}", settings)
        async with control_worker(client, engine, QUEUE):

            class Stack:
                pass

            stack = Stack()
            stack.engine = engine  # type: ignore[attr-defined]
            publish_baseline(stack, "restarted")
            spec = spec_for("restarted", 0.0, analysis={"interval": "200ms"})
            started = await start_rollout(client, engine, spec, QUEUE)
            before = await looks_reach(client, started, 3)
            server.terminate()
            server.wait(30)
            server = start_dev_server(db_file, port)
            # The same server state, back on the same port: the worker reconnects by itself.
            await looks_reach(client, started, before + 3, seconds=90)
            await control_rollout(client, started, "abort")
            handle = client.get_workflow_handle(started, result_type=RolloutState)
            state = await asyncio.wait_for(handle.result(), 60)
        assert state.status == "aborted"
        assert len(looks_of_step(engine, state.record_id, 0)) == state.look
        assert [d.action for d in decisions_of(engine, state.record_id)] == ["abort"]
        _version, targets = live_targets(engine, "restarted")
        assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    finally:
        engine.dispose()
        server.terminate()
        server.wait(30)


async def connect_when_up(address: str, settings: Settings) -> Client:
    for _ in range(150):
        with contextlib.suppress(RuntimeError, RPCError):
            return await Client.connect(address, data_converter=build_data_converter(settings))
        await asyncio.sleep(0.2)
    raise AssertionError(f"no Temporal server came up at {address}")


async def looks_reach(client: Client, workflow_id: str, look: int, seconds: float = 60) -> int:
    """The rollout's look number once it is at least `look` (bounded in time)."""
    current = 0
    for _ in range(int(seconds / 0.2)):
        with contextlib.suppress(RPCError, RolloutCommandError, RuntimeError):
            current = (await rollout_status(client, workflow_id))["look"]
            if current >= look:
                return current
        await asyncio.sleep(0.2)
    raise AssertionError(f"the rollout stayed at look {current}")
