"""The demo's two rollouts (devstack/rollouts/): started once the stack is up, fed with synthetic
traffic until both have ended, so a newcomer sees one candidate reach all traffic and another
rolled back, in the Web UI and in `interlock rollout status`."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from contracts.rollout import FINAL_STATUSES
from devstack.supervisor import Stack
from devstack.traffic import TrafficGenerator

DEMO_ROLLOUTS = sorted(Path(__file__).with_name("rollouts").glob("*.yaml"))
# Per route: enough that each rollout gathers its samples within a few minutes.
THREADS_PER_ROUTE = 8
RPS_PER_THREAD = 2.5
# The traffic stops when both rollouts have ended, or after this long whatever happened.
MOST_SECONDS = 600.0
POLL_SECONDS = 15.0


class DemoRollouts:
    def __init__(self, stack: Stack, api_key: str, say: Callable[[str], None]) -> None:
        self._stack = stack
        self._api_key = api_key
        self._say = say
        self._generators: list[TrafficGenerator] = []
        self._ids: list[str] = []
        self._started = 0.0
        self._polled = 0.0

    def start(self) -> None:
        for file in DEMO_ROLLOUTS:
            done = self._interlock("rollout", "start", str(file))
            if done.returncode == 0:
                self._ids.append(done.stdout.strip())
                self._say(f"rollout {done.stdout.strip()} started from {file.name}")
            else:
                self._say(f"rollout from {file.name} not started: {done.stderr.strip()}")
        routes = [rollout_id.removeprefix("rollout-") for rollout_id in self._ids]
        for route in routes:
            for _ in range(THREADS_PER_ROUTE):
                generator = TrafficGenerator(
                    f"{self._stack.gateway_url}/v1", self._api_key, RPS_PER_THREAD, route=route
                )
                generator.start()
                self._generators.append(generator)
        if routes:
            rate = THREADS_PER_ROUTE * RPS_PER_THREAD
            self._say(
                f"sending {rate:g} requests/s to each of {', '.join(routes)} until the rollouts "
                "end; follow them with `interlock rollout list` or in the Web UI"
            )
        self._started = self._polled = time.monotonic()

    def poll(self) -> None:
        """Called from the supervisor's loop: stop the traffic once every rollout has ended."""
        if not self._generators or time.monotonic() - self._polled < POLL_SECONDS:
            return
        self._polled = time.monotonic()
        listed = self._interlock("rollout", "list", "--json")
        statuses = {}
        if listed.returncode == 0:
            statuses = {row["id"]: row["status"] for row in json.loads(listed.stdout or "[]")}
        ended = all(statuses.get(i) in FINAL_STATUSES for i in self._ids)
        if ended or time.monotonic() - self._started > MOST_SECONDS:
            self.stop()
            summary = ", ".join(f"{i}: {statuses.get(i, 'unknown')}" for i in self._ids)
            self._say(f"demo rollouts: {summary}; their traffic has stopped")

    def stop(self) -> None:
        for generator in self._generators:
            generator.stop()
        self._generators.clear()

    def _interlock(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._stack.interlock(*args)
