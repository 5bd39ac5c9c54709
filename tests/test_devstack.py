"""`interlock dev` end to end: the real command, as a subprocess, with its real children.

Each run gets its own home directory and free ports (devstack/launch.py), and whatever is left of
it is killed on the way out.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from devstack import launch
from devstack.launch import (
    BANNER_END,
    DevRun,
    clean_env,
    pids_by_role,
    read_proc,
    role_of,
    stack_processes,
)
from devstack.ports import port_is_free
from devstack.supervisor import temporal_binary

DEMO_KEY = "il-devstack-test-" + "d" * 32
STARTUP_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0


def wait_until(what: str, check: Callable[[], object], timeout: float, interval: float = 0.2):
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


def dev_env() -> dict[str, str]:
    return clean_env({"INTERLOCK_SIMULATOR_LATENCY_SCALE": "0", "INTERLOCK_DEMO_API_KEY": DEMO_KEY})


@contextlib.contextmanager
def interlock_dev(tmp_path: Path, gateway_port: int | None = None) -> Iterator[DevRun]:
    with launch.interlock_dev(tmp_path, dev_env(), gateway_port=gateway_port) as run:
        try:
            yield run
        except BaseException:
            print(run.diagnostics())  # pytest shows it with the failure
            raise


# --- the tests ---


def test_dev_stack_lifecycle(tmp_path: Path, record_property: Callable[[str, object], None]):
    with interlock_dev(tmp_path) as run:
        # 1. The banner, within the start-up deadline.
        def banner_or_exit() -> bool:
            if run.process.poll() is not None:
                pytest.fail(
                    f"interlock dev exited with {run.process.returncode} before its banner:\n"
                    f"{run.output()}"
                )
            return BANNER_END in run.output()

        wait_until("the banner", banner_or_exit, STARTUP_DEADLINE_SECONDS)
        startup_seconds = time.monotonic() - run.started_at
        banner = run.output()
        reported = re.search(r"Interlock is up \(([0-9.]+) s\)", banner)
        assert reported, banner
        record_property("startup_seconds", round(startup_seconds, 2))
        record_property("startup_seconds_reported", float(reported.group(1)))
        print(
            f"interlock dev start-up: {startup_seconds:.2f} s from launch to banner, "
            f"{reported.group(1)} s by the supervisor's own count"
        )
        gateway_base = f"http://127.0.0.1:{run.gateway_port}/v1"
        assert f"http://localhost:{run.ui_port}" in banner, banner
        assert gateway_base in banner, banner
        assert DEMO_KEY in banner, banner

        # All three children are up, and the /proc scan the clean-up relies on finds them.
        processes = stack_processes(run.home)
        roles = {role_of(cmdline): pid for pid, cmdline in processes.items()}
        assert {"temporal", "worker", "gateway", "dev"} <= roles.keys(), processes
        assert roles["dev"] == run.process.pid
        children = {pid for pid, cmdline in processes.items() if role_of(cmdline) != "dev"}
        temporal_cmdline = processes[roles["temporal"]]
        assert f"--port {run.temporal_port}" in temporal_cmdline
        assert f"--ui-port {run.ui_port}" in temporal_cmdline

        # 2. The official OpenAI client gets a completion from route `chat`.
        marker = f"devstack-prompt-marker-{uuid.uuid4().hex}"
        client = openai.OpenAI(base_url=gateway_base, api_key=DEMO_KEY, max_retries=0, timeout=30.0)
        try:
            completion = client.chat.completions.create(
                model="chat",
                messages=[{"role": "user", "content": f"Please repeat nothing of {marker}."}],
            )
        finally:
            client.close()
        assert completion.id.startswith("chatcmpl-"), completion
        assert completion.object == "chat.completion"
        assert completion.choices, completion
        message = completion.choices[0].message
        assert message.role == "assistant"
        assert isinstance(message.content, str) and message.content.strip()
        assert completion.choices[0].finish_reason
        usage = completion.usage
        assert usage is not None
        assert usage.prompt_tokens > 0
        assert usage.completion_tokens > 0
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

        # 3. Its outcome row is in the SQLite store.
        store = run.home / "interlock.db"

        def outcome_rows() -> list[tuple]:
            connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
            try:
                return connection.execute(
                    "SELECT status, tenant_id, route, tokens_in, tokens_out FROM outcomes "
                    "WHERE request_id = ?",
                    (completion.id,),
                ).fetchall()
            finally:
                connection.close()

        rows = wait_until("the outcome row", outcome_rows, 10.0)
        assert rows == [("ok", "demo", "chat", usage.prompt_tokens, usage.completion_tokens)], rows

        # 4. The request workflow exists in Temporal.
        describe = subprocess.run(
            [
                temporal_binary(),
                "workflow",
                "describe",
                "-w",
                completion.id,
                "--address",
                f"127.0.0.1:{run.temporal_port}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert describe.returncode == 0, describe.stdout + describe.stderr
        assert completion.id in describe.stdout, describe.stdout

        # 5. SIGTERM stops everything and the supervisor exits 0.
        run.process.send_signal(signal.SIGTERM)
        stop_started = time.monotonic()
        try:
            code = run.process.wait(STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"interlock dev did not exit within {STOP_DEADLINE_SECONDS:.0f} s of SIGTERM:\n"
                f"{run.output()}"
            )
        record_property("stop_seconds", round(time.monotonic() - stop_started, 2))
        output = run.output()
        assert code == 0, output
        assert "stopped" in output.splitlines(), output
        assert "exited with code" not in output, output  # every child stopped cleanly

        def children_gone() -> bool:
            return not (children & stack_processes(run.home).keys())

        wait_until("the children to disappear", children_gone, 5.0)
        assert stack_processes(run.home) == {}

        # 6. Temporal's files hold the workflow but never the prompt (the codec encrypts it).
        temporal_files = sorted(run.home.glob("temporal.db*"))
        assert temporal_files, list(run.home.iterdir())
        contents = {path.name: path.read_bytes() for path in temporal_files}
        assert any(completion.id.encode() in data for data in contents.values()), (
            f"the workflow id is in none of {list(contents)}: wrong files?"
        )
        leaked = [name for name, data in contents.items() if marker.encode() in data]
        assert not leaked, f"the prompt is readable in {leaked}"


def test_repeated_ctrl_c_stops_the_stack_cleanly(tmp_path: Path):
    """Ctrl-C pressed several times in a row: still one orderly stop, exit 0, nothing left."""
    with interlock_dev(tmp_path) as run:
        wait_until("the banner", lambda: BANNER_END in run.output(), STARTUP_DEADLINE_SECONDS)
        children = set(stack_processes(run.home)) - {run.process.pid}
        assert len(children) == 3
        # A burst, back to back: every signal after the first must be harmless.
        for _ in range(200):
            run.process.send_signal(signal.SIGINT)
        try:
            code = run.process.wait(STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"interlock dev hung after repeated SIGINT:\n{run.diagnostics()}")
        output = run.output()
        assert code == 0, output
        assert "exited with code" not in output, output
        wait_until(
            "the children to disappear",
            lambda: not (children & stack_processes(run.home).keys()),
            5.0,
        )


def test_dev_fails_fast_when_the_gateway_port_is_taken(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with interlock_dev(tmp_path, gateway_port=taken) as run:
            # Failing fast means failing before anything starts (checked below), not within a
            # number of seconds a loaded machine may not meet; this wait only bounds a hang.
            try:
                code = run.process.wait(60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"interlock dev did not exit with port {taken} taken:\n{run.output()}")
            output = " ".join(run.output().split())  # rich may wrap the message
            assert code == 2, output
            assert f"port {taken}" in output, output
            assert "--gateway-port" in output, output
            assert "in use" in output, output
            # Nothing was started: no Temporal server (or any other child) is left behind.
            assert stack_processes(run.home) == {}
            leftovers = [
                cmdline
                for cmdline in _all_cmdlines()
                if "start-dev" in cmdline and f"--port {run.temporal_port}" in cmdline
            ]
            assert leftovers == []
            assert not (run.home / "temporal.db").exists()


def _all_cmdlines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            cmdline = read_proc(int(entry.name), "cmdline")
            if cmdline:
                lines.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return lines


def test_port_left_closing_by_a_stopped_stack_counts_as_free():
    """A just-stopped server leaves its accepted connections in FIN_WAIT/TIME_WAIT; uvicorn and
    Temporal bind with SO_REUSEADDR and start fine, so the port check must not refuse them."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and Go do
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server closes first, as a stopping gateway does
            listener.close()
            assert port_is_free("127.0.0.1", port)
            assert client.recv(1) == b""


def test_a_crashed_child_is_restarted_and_a_killed_supervisor_leaves_nothing(tmp_path: Path):
    """The gateway is SIGKILLed and restarted; then the supervisor itself is SIGKILLed, and its
    children stop. (The reliability suite kills the worker and the gateway under load.)"""
    with interlock_dev(tmp_path) as run:
        wait_until("the banner", run.is_up, STARTUP_DEADLINE_SECONDS)
        old_pid = pids_by_role(run.home)["gateway"]
        os.kill(old_pid, signal.SIGKILL)
        wait_until("the gateway's restart", lambda: "gateway restarted" in run.output(), 30.0)
        assert "gateway exited with code -9; restarting it in 1 s" in run.output()
        assert run.process.poll() is None, run.output()
        client = openai.OpenAI(
            base_url=run.gateway_base, api_key=DEMO_KEY, max_retries=0, timeout=30.0
        )

        def answered() -> bool:
            try:
                client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "still there?"}]
                )
            except openai.APIConnectionError:
                return False  # the new gateway is still starting
            return True

        try:
            wait_until("an answer from the restarted gateway", answered, 60.0, 0.5)
        finally:
            client.close()
        assert pids_by_role(run.home)["gateway"] != old_pid

        children = set(stack_processes(run.home)) - {run.process.pid}
        assert len(children) == 3
        # SIGKILL cannot be handled: only the kernel's parent-death signal reaches the children.
        run.process.kill()
        run.process.wait(10)
        wait_until(
            "the orphaned children to stop",
            lambda: not (children & stack_processes(run.home).keys()),
            STOP_DEADLINE_SECONDS,
        )
