"""Request-path benchmark: the real stack (`interlock dev`) under closed-loop load from here.

Starts `interlock dev` in a temporary home on free ports with the simulator's latency at zero, so
the figures are Interlock's own overhead: HTTP, auth, the workflow with its eager start, the local
activities, the provider activity round trip through the worker, the outcome write. Then, for each
concurrency, sends a fixed number of requests and prints throughput and latency percentiles.

    .venv/bin/python -m benchmarks.request_path [--requests 400] [--concurrency 1 20]

Only 127.0.0.1 is ever contacted; every loop is bounded by a count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "il-benchmark-" + "b" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Stack:
    """A running `interlock dev` of the benchmark's own."""

    base_url: str
    home: Path
    temporal_port: int
    process: subprocess.Popen


def start_stack(home: Path, gateway_port: int, temporal_port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "INTERLOCK_SIMULATOR_LATENCY_SCALE": "0",
        "INTERLOCK_DEMO_API_KEY": API_KEY,
        "INTERLOCK_LOG_LEVEL": "WARNING",
    }
    argv = [
        sys.executable,
        "-m",
        "cli",
        "dev",
        "--home",
        str(home),
        "--gateway-port",
        str(gateway_port),
        "--temporal-port",
        str(temporal_port),
        "--ui-port",
        str(free_port()),
    ]
    return subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_until_up(process: subprocess.Popen, timeout: float = 90.0) -> float:
    started = time.monotonic()
    assert process.stdout is not None
    for line in process.stdout:
        if "Interlock is up" in line:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            break
    raise RuntimeError("the stack did not come up; see the logs in its home directory")


@dataclass
class Level:
    """One closed-loop run: every request's latency in ms, the non-200 answers, the wall time."""

    latencies: list[float]
    errors: int
    elapsed: float

    def figures(self) -> dict[str, float]:
        quantiles = statistics.quantiles(self.latencies, n=100)
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "rps": len(self.latencies) / self.elapsed,
            "p50": quantiles[49],
            "p95": quantiles[94],
            "p99": quantiles[98],
        }

    def __add__(self, other: Level) -> Level:
        """Runs pooled: their latencies together, their wall times summed."""
        latencies = self.latencies + other.latencies
        return Level(latencies, self.errors + other.errors, self.elapsed + other.elapsed)


async def run_level(
    base_url: str,
    requests: int,
    concurrency: int,
    path: str = "/v1/chat/completions",
    model: str = "chat",
    headers: dict[str, str] | None = None,
) -> Level:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    body = {"model": model, "messages": [{"role": "user", "content": "benchmark request"}]}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url,
        timeout=60,
        limits=limits,
        headers={"Authorization": f"Bearer {API_KEY}", **(headers or {})},
    ) as http:
        # Warm-up: connections, caches, the first workflow tasks.
        for _ in range(min(10, requests)):
            await http.post(path, json=body)

        async def loop() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                sent = time.perf_counter()
                response = await http.post(path, json=body)
                latencies.append((time.perf_counter() - sent) * 1000)
                errors += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Level(latencies, errors, elapsed)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it has not gone within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """`interlock dev` in a temporary home, with the simulator's latency at zero."""
    with tempfile.TemporaryDirectory(prefix="interlock-bench-") as home:
        port, temporal_port = free_port(), free_port()
        process = start_stack(Path(home), port, temporal_port)
        try:
            startup = wait_until_up(process)
            print(
                f"stack up in {startup:.1f} s (interlock dev, simulator latency 0)",
                file=sys.stderr,
            )
            yield Stack(f"http://127.0.0.1:{port}", Path(home), temporal_port, process)
        finally:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    args = parser.parse_args()

    with running_stack() as stack:
        print(
            f"{'concurrency':>11} {'requests':>8} {'errors':>6} {'req/s':>7} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        )
        for level in args.concurrency:
            r = asyncio.run(run_level(stack.base_url, args.requests, level)).figures()
            print(
                f"{level:>11} {r['requests']:>8.0f} {r['errors']:>6.0f} {r['rps']:>7.1f} "
                f"{r['p50']:>7.1f} {r['p95']:>7.1f} {r['p99']:>7.1f}"
            )


if __name__ == "__main__":
    main()
