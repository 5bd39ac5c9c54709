"""An experiment through the running stack: the official openai client -> gateway (each end user
on their arm, recorded on the outcome) -> the evaluation workflow on the worker -> the better arm
promoted into the route."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml
from sqlmodel import Session, select

from operations.experiments import evaluate_now
from operations.rollouts import RolloutCommandError, running_rollout_on, start_rollout
from store.experiments import experiment, looks_of
from store.outcomes import outcomes_for_request
from store.routes import live_config
from store.tables import Outcome
from tests.experiment_helpers import ask_as, new_experiment
from tests.rollout_helpers import HEALTHY_CANDIDATE_ERRORS, publish_baseline, spec_for


async def test_users_stick_to_arms_and_the_better_arm_is_promoted(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    gate = asyncio.Semaphore(8)

    async def one(user: str) -> tuple[str, str, str]:
        async with gate:
            return (user, *await ask_as(sdk, route, user))

    answered = await asyncio.gather(*(one(f"user-{i}") for i in range(200)))
    arms = {user: variant for user, variant, _ in answered}
    assert set(arms.values()) == {"control", "smart"}
    # Each user's next request lands on the same arm, and each row says which, and of which
    # unit: the same digest as the user's first request, never the user's own name.
    first_request = {user: request_id for user, _, request_id in answered}
    for user in ("user-1", "user-2", "user-3", "user-4"):
        variant, request_id = await ask_as(sdk, route, user)
        assert variant == arms[user]
        [row] = outcomes_for_request(stack.engine, request_id)
        assert (row.experiment, row.experiment_arm, row.variant) == (route, variant, variant)
        assert row.routing_reason == f"experiment {route}: arm {variant}"
        [first] = outcomes_for_request(stack.engine, first_request[user])
        assert row.experiment_unit == first.experiment_unit and len(row.experiment_unit) == 32
        assert user not in row.experiment_unit
    # A request without a user is served by the route as it stands, outside the experiment.
    anonymous = await sdk.chat.completions.create(
        model=route, messages=[{"role": "user", "content": "hello"}]
    )
    [row] = outcomes_for_request(stack.engine, anonymous.id)
    assert row.experiment is None and row.variant == "control"

    report = await evaluate_now(
        stack.client, stack.engine, route, stack.settings.control_task_queue
    )
    [verdict] = report.verdicts
    assert (verdict.action, verdict.winner, verdict.applied) == ("promote", "smart", True)
    # The look counted units: the 200 users on their arms, not their 204 requests.
    [look] = looks_of(stack.engine, route)
    units = {arm: look.statistics[arm]["units"] for arm in ("control", "smart")}
    assert units == {arm: list(arms.values()).count(arm) for arm in units}
    state = experiment(stack.engine, route)
    assert state is not None and state.status == "completed"
    _, config = live_config(stack.engine, route)  # type: ignore[misc]
    assert [(t.variant, t.model) for t in config.targets] == [("smart", "sim-smart")]
    # Once ended, the route's requests are in no experiment (gateways see it within a second).
    await asyncio.sleep(1.1)
    _, after = await ask_as(sdk, route, "user-1")
    [row] = outcomes_for_request(stack.engine, after)
    assert row.experiment is None and row.variant == "smart"


def experiment_command(stack, *args: str) -> subprocess.CompletedProcess:
    """`interlock experiment ARGS` against the stack, as an operator would run it."""
    env = {
        **os.environ,
        "INTERLOCK_HOME": str(stack.settings.home),
        "INTERLOCK_DATABASE_URL": stack.settings.resolved_database_url,
        "TEMPORAL_ADDRESS": stack.temporal_address,
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "experiment", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_evaluate_from_the_command_line(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    await ask_as(sdk, route, "someone")

    def interlock(*args: str) -> subprocess.CompletedProcess:
        return experiment_command(stack, *args)

    done = await asyncio.to_thread(interlock, "evaluate", route, "--json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["action"] == "continue" and "collecting: " in verdict["reason"]
    unknown = await asyncio.to_thread(interlock, "evaluate", "no-such-experiment")
    assert unknown.returncode == 1
    assert "no experiment named 'no-such-experiment'" in unknown.stderr
    status = await asyncio.to_thread(interlock, "status", route, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["decisions"][0]["action"] == "continue"
    with Session(stack.engine) as session:
        rows = session.exec(select(Outcome).where(Outcome.experiment == route)).all()
    assert len(rows) == 1


async def test_an_experiment_and_a_rollout_never_share_a_route(stack, tmp_path) -> None:
    # Assignment would take the traffic a rollout's steps move and judge, and a winner's
    # promotion would rewrite the baseline under it: whichever starts second is refused.
    rolled = f"exp-rolled-{uuid.uuid4().hex[:6]}"
    publish_baseline(stack, rolled)
    rollout = await start_rollout(
        stack.client,
        stack.engine,
        spec_for(rolled, HEALTHY_CANDIDATE_ERRORS),
        stack.settings.control_task_queue,
    )
    try:
        experiment_file = tmp_path / "beside-rollout.yaml"
        experiment_file.write_text(
            yaml.safe_dump(
                {
                    "name": rolled,
                    "route": rolled,
                    "arms": [
                        {"variant": "base"},
                        {"variant": "smart", "provider": "simulated", "model": "sim-smart"},
                    ],
                }
            ),
            encoding="utf-8",
        )
        refused = await asyncio.to_thread(experiment_command, stack, "create", str(experiment_file))
        assert refused.returncode == 1
        assert f"route {rolled!r} has a rollout running ({rollout})" in refused.stderr
        assert experiment(stack.engine, rolled) is None
    finally:
        await stack.client.get_workflow_handle(rollout).terminate("test over")

    experimented = f"exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, experimented)
    with pytest.raises(RolloutCommandError, match="has a running experiment"):
        await start_rollout(
            stack.client,
            stack.engine,
            spec_for(experimented, HEALTHY_CANDIDATE_ERRORS),
            stack.settings.control_task_queue,
        )
    assert await running_rollout_on(stack.client, experimented) is None
