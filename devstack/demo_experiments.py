"""The demo's experiment (devstack/experiments/): started once the stack is up under a name of
its own for this run, fed with traffic from a pool of end users until it has ended, so a
newcomer sees assignment, the Schedule's evaluations and a promotion, in the Web UI, in
`interlock experiment status` and in its report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from devstack.supervisor import Stack
from devstack.traffic import TrafficGenerator

DEMO_EXPERIMENTS = sorted(Path(__file__).with_name("experiments").glob("*.yaml"))
THREADS = 4
RPS_PER_THREAD = 2.5
USERS = 400
MOST_SECONDS = 900.0
POLL_SECONDS = 15.0


class DemoExperiments:
    def __init__(self, stack: Stack, api_key: str, say: Callable[[str], None]) -> None:
        self._stack = stack
        self._api_key = api_key
        self._say = say
        self._generators: list[TrafficGenerator] = []
        self._names: list[str] = []
        self._started = 0.0
        self._polled = 0.0

    def start(self) -> None:
        run = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        for file in DEMO_EXPERIMENTS:
            name = f"{file.stem}-{run}"  # names are never reused: one per demo run
            done = self._stack.interlock("experiment", "create", str(file), "--name", name)
            if done.returncode != 0:
                self._say(f"experiment from {file.name} not started: {done.stderr.strip()}")
                continue
            self._names.append(name)
            self._say(done.stdout.strip())
            route = self._route_of(name)
            for thread in range(THREADS):
                generator = TrafficGenerator(
                    f"{self._stack.gateway_url}/v1",
                    self._api_key,
                    RPS_PER_THREAD,
                    route=route,
                    users=USERS,
                    seed=thread,
                )
                generator.start()
                self._generators.append(generator)
            every = self._stack.settings.experiment_evaluation_every_seconds
            self._say(
                f"sending {THREADS * RPS_PER_THREAD:g} requests/s from {USERS} users to route "
                f"{route}; the Schedule evaluates {name} every {every:g} s (`interlock "
                f"experiment status {name}`, `interlock experiment report {name}`)"
            )
        self._started = self._polled = time.monotonic()

    def poll(self) -> None:
        """Called from the supervisor's loop: stop the traffic once every experiment has ended."""
        if not self._generators or time.monotonic() - self._polled < POLL_SECONDS:
            return
        self._polled = time.monotonic()
        listed = self._stack.interlock("experiment", "list", "--json")
        statuses = {}
        if listed.returncode == 0:
            statuses = {row["name"]: row for row in json.loads(listed.stdout or "[]")}
        ended = all(statuses.get(n, {}).get("status") not in (None, "running") for n in self._names)
        if ended or time.monotonic() - self._started > MOST_SECONDS:
            self.stop()
            summary = ", ".join(
                f"{n}: {statuses.get(n, {}).get('status', 'unknown')}"
                + (f", winner {w}" if (w := statuses.get(n, {}).get("winner")) else "")
                for n in self._names
            )
            self._say(f"demo experiments: {summary}; their traffic has stopped")

    def stop(self) -> None:
        for generator in self._generators:
            generator.stop()
        self._generators.clear()

    def _route_of(self, name: str) -> str:
        shown = self._stack.interlock("experiment", "status", name, "--json")
        return json.loads(shown.stdout)["route"] if shown.returncode == 0 else "writer"
