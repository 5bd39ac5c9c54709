"""Running `interlock dev` from another program, and finding the processes of a running stack.

The tests and the reliability suite start the real command as a subprocess, each with its own home
and free ports, so it never touches a developer's stack. The children (Temporal dev server, worker,
gateway) lead their own sessions, so killing the supervisor's process group does not reach them:
they are found through /proc instead, the Temporal server by the home path on its command line,
worker and gateway by INTERLOCK_HOME in their environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

BANNER_END = "Press Ctrl-C to stop everything."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:  # gone, or not ours to read
        return b""


def _is_zombie(pid: int) -> bool:
    stat = read_proc(pid, "stat")
    # The state follows the command name, which is in parentheses and may contain spaces.
    return not stat or stat.rsplit(b")", 1)[-1].split()[:1] == [b"Z"]


def stack_processes(home: Path) -> dict[int, str]:
    """Live processes belonging to the stack rooted at `home`: pid -> command line."""
    marker = str(home).encode()
    env_marker = b"INTERLOCK_HOME=" + marker
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        cmdline = read_proc(pid, "cmdline")
        if not cmdline or _is_zombie(pid):
            continue
        environ = read_proc(pid, "environ").split(b"\0")
        if marker in cmdline or env_marker in environ:
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def role_of(cmdline: str) -> str | None:
    """temporal, worker, gateway or dev (the supervisor), from a stack process's command line."""
    if "server start-dev" in cmdline:
        return "temporal"
    for role in ("worker", "gateway", "dev"):
        if cmdline.endswith(f"-m cli {role}") or f"-m cli {role} " in cmdline:
            return role
    return None


def pids_by_role(home: Path) -> dict[str, int]:
    return {role_of(cmdline) or "?": pid for pid, cmdline in stack_processes(home).items()}


def kill_everything(supervisor: subprocess.Popen, home: Path) -> None:
    """Last resort: SIGKILL the supervisor's group and every stack child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(supervisor.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        supervisor.wait(10)
    for pid in stack_processes(home):
        # Each child leads its own session and process group; kill the group, then the pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class DevRun:
    process: subprocess.Popen
    home: Path
    output_path: Path
    gateway_port: int
    temporal_port: int
    ui_port: int
    started_at: float

    @property
    def gateway_base(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}/v1"

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except OSError:
            return ""

    def is_up(self) -> bool:
        """True once the banner is out; raises if the supervisor exited before it."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"interlock dev exited with {self.process.returncode} before its banner:\n"
                f"{self.output()}"
            )
        return BANNER_END in self.output()

    def wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise TimeoutError(f"interlock dev was not up within {timeout:.0f} s")
            time.sleep(0.2)

    def diagnostics(self, lines: int = 40) -> str:
        """The supervisor's output and the end of every child's log, for a failure report."""
        parts = [f"--- interlock dev output ---\n{self.output()}"]
        for log in sorted((self.home / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (last {lines} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)


def clean_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without settings that could point the stack elsewhere, plus overrides."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INTERLOCK_", "TEMPORAL_")) and key != "DATABASE_URL"
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides or {})
    return env


@contextlib.contextmanager
def interlock_dev(
    workdir: Path,
    env: Mapping[str, str],
    gateway_port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[DevRun]:
    """Start `interlock dev` on free ports with its home under `workdir`; kill all of it on the
    way out. `env` is the whole environment of the supervisor (see clean_env)."""
    home = (workdir / "home").resolve()
    output_path = workdir / "dev-output.txt"
    ports = {"gateway": gateway_port or free_port(), "temporal": free_port(), "ui": free_port()}
    argv = [
        sys.executable,
        "-m",
        "cli",
        "dev",
        "--home",
        str(home),
        "--gateway-port",
        str(ports["gateway"]),
        "--temporal-port",
        str(ports["temporal"]),
        "--ui-port",
        str(ports["ui"]),
        *extra_args,
    ]
    with open(output_path, "wb") as output:
        started_at = time.monotonic()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=workdir,  # no developer .env file is picked up
            start_new_session=True,
        )
    run = DevRun(
        process, home, output_path, ports["gateway"], ports["temporal"], ports["ui"], started_at
    )
    try:
        yield run
    finally:
        kill_everything(process, home)
