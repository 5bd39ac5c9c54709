"""`interlock rollout ...` as an operator runs it: a real process against the test stack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.routing import RouteTarget
from store.routes import live_config, live_targets, publish_route
from tests.rollout_helpers import finished


@pytest.fixture
def interlock(stack):
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "TEMPORAL_NAMESPACE": "default",
        "INTERLOCK_HOME": str(stack.settings.home),
        "INTERLOCK_DATABASE_URL": stack.settings.resolved_database_url,
    }

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        # In a thread: the stack's worker runs on this test's event loop and must keep going.
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cli", "rollout", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    return run


async def test_a_bad_file_is_refused_with_exit_code_2(interlock, tmp_path: Path) -> None:
    file = tmp_path / "rollout.yaml"
    file.write_text("route: chat\nanalysis: {interval: soon}\n", encoding="utf-8")
    done = await interlock("start", str(file))
    assert done.returncode == 2
    assert "rollout.yaml" in done.stderr and "candidate" in done.stderr


async def test_an_unknown_rollout_is_a_clear_error(interlock) -> None:
    done = await interlock("status", "rollout-nowhere")
    assert done.returncode == 1
    assert "no rollout with id 'rollout-nowhere'" in done.stderr


async def test_start_list_status_steer_and_abort(stack, interlock, tmp_path: Path) -> None:
    publish_route(
        stack.engine,
        "cli-route",
        [RouteTarget(variant="base", provider="simulated", model="sim-fast")],
    )
    file = tmp_path / "rollout.yaml"
    file.write_text(
        "route: cli-route\n"
        "candidate: {variant: next, provider: simulated, model: sim-smart}\n"
        "analysis: {interval: 1s}\n",
        encoding="utf-8",
    )
    started = await interlock("start", str(file))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "rollout-cli-route"
    again = await interlock("start", str(file))
    assert again.returncode == 1 and "already running" in again.stderr

    # Visibility follows the start by a moment: ask again briefly until the rollout is listed.
    for _ in range(50):
        listed = json.loads((await interlock("list", "--json")).stdout)
        mine = [row for row in listed if row["id"] == "rollout-cli-route"]
        if mine:
            break
        await asyncio.sleep(0.2)
    assert {"id", "route", "stage", "status"} <= mine[0].keys()
    assert (mine[0]["route"], mine[0]["status"]) == ("cli-route", "running")

    paused = await interlock("pause", "rollout-cli-route")
    assert paused.returncode == 0 and "now paused" in paused.stdout
    status = json.loads((await interlock("status", "rollout-cli-route", "--json")).stdout)
    # The minimal file begins with the shadow stage: the candidate serves nobody yet.
    assert status["status"] == "paused" and status["stage"] == "shadow 10%"
    assert status["weights"] == {"base": 1.0}
    assert live_config(stack.engine, "cli-route")[1].shadow.sample == 0.1
    assert any("pause" in line for line in status["decisions"])

    aborted = await interlock("abort", "rollout-cli-route")
    assert aborted.returncode == 0, aborted.stderr
    # The abort is answered once decided; the route is restored as the rollout ends.
    await finished(stack, "rollout-cli-route", seconds=30)
    _version, targets = live_targets(stack.engine, "cli-route")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    assert live_config(stack.engine, "cli-route")[1].shadow is None
    twice = await interlock("abort", "rollout-cli-route")
    assert twice.returncode == 1 and "has ended (aborted)" in twice.stderr
    tree = await interlock("status", "rollout-cli-route")
    assert tree.returncode == 0 and "aborted" in tree.stdout
    page = tmp_path / "report.html"
    reported = await interlock("report", "rollout-cli-route", "--output", str(page))
    assert reported.returncode == 0, reported.stderr
    assert "aborted by an operator" in page.read_text(encoding="utf-8")
