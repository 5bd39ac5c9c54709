"""`interlock bench request`: the request path against its own floor, on one dev server, in one run.

Three measurements, each at concurrency 1 and 20, floor and pipeline taking turns for a few
rounds that each level then pools:
- floor: the gateway's HTTP stack (middleware, API key, typed body) in front of a workflow that
  runs one local activity doing nothing (benchmarks/floor_gateway.py), eager start;
- pipeline: the full path through the gateway on a copy of the demo route (guardrails on, route
  resolution, the provider call, the outcome row, the OpenAI response), with the simulated
  provider at zero latency and its injected failures off; and once more at concurrency 1 on the
  demo route itself, whose provider fails 1% of first attempts on purpose;
- direct: the same simulated provider called in this process, no gateway, no Temporal.

Prints one JSON object: `floor_rps` and `pipeline_rps` (concurrency 20) and their `ratio`; the
overhead the pipeline adds to a direct call at concurrency 1 (`overhead_p50_ms`,
`overhead_p95_ms`, `overhead_p99_ms`, and `overhead_p99_ms_injected_errors` with the 1%
failures); the CPU milliseconds per pipeline request of the gateway process and of the Temporal
server; and every level's figures under `levels`. Only 127.0.0.1 is contacted; every loop is
bounded by a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from activities.providers.simulated import SimulatedProvider
from benchmarks.request_path import Level, Stack, free_port, run_level, running_stack, stop
from contracts.chat import ChatMessage, ChatRequest
from contracts.routing import CachePolicy, RouteTarget
from store import create_store_engine
from store.routes import live_config, publish_routes

CONCURRENCY = (1, 20)
# The demo route with the simulator's injected failures off: what the pipeline is measured on.
STEADY_ROUTE = "bench-steady"
# The same route with its answers cached: every request after the first is a hit, unless it says
# Cache-Control: no-cache (then it is a miss that also refreshes the entry).
CACHED_ROUTE = "bench-cached"


def publish_steady_route(stack: Stack) -> None:
    """A copy of the demo route (same guardrails, same model) whose provider never fails."""
    engine = create_store_engine(f"sqlite:///{stack.home / 'interlock.db'}")
    try:
        found = live_config(engine, "chat")
        assert found is not None, "interlock dev seeds the demo route"
        demo = found[1]
        targets = [
            t.model_copy(update={"options": {**t.options, "error_rate": 0.0}}) for t in demo.targets
        ]
        steady = demo.model_copy(update={"name": STEADY_ROUTE, "targets": targets})
        cached = steady.model_copy(
            update={"name": CACHED_ROUTE, "cache": CachePolicy(ttl_seconds=3600)}
        )
        publish_routes(engine, [steady, cached])
    finally:
        engine.dispose()


def main(requests: int = 400, as_json: bool = False, rounds: int = 3) -> dict[str, Any]:
    top = max(CONCURRENCY)
    runs: dict[str, Level] = {}
    cpu: dict[str, dict[str, float]] = {}  # level -> role -> CPU seconds, over every round
    with running_stack() as stack, floor_gateway(stack) as floor_url:
        publish_steady_route(stack)
        # Floor and pipeline take turns, round after round, and each level pools its rounds:
        # a machine whose speed drifts during the run then slows both alike.
        for _ in range(rounds):
            for level in CONCURRENCY:
                for name, url, path, model in (
                    ("floor", floor_url, "/v1/floor", "chat"),
                    ("pipeline", stack.base_url, "/v1/chat/completions", STEADY_ROUTE),
                ):
                    run, usage = _with_cpu(
                        lambda url=url, level=level, path=path, model=model: asyncio.run(
                            run_level(url, requests, level, path=path, model=model)
                        )
                    )
                    _pool(runs, cpu, f"{name}_c{level}", run, usage)
            for name, headers in (
                ("cache_hits_c1", None),
                ("cache_misses_c1", {"Cache-Control": "no-cache"}),
            ):
                run, usage = _with_cpu(
                    lambda headers=headers: asyncio.run(
                        run_level(stack.base_url, requests, 1, model=CACHED_ROUTE, headers=headers)
                    )
                )
                _pool(runs, cpu, name, run, usage)
            # The demo route as it is, with the simulator's 1% of failed first attempts: the
            # p99 then includes provider retries.
            _pool(
                runs,
                cpu,
                "pipeline_injected_errors_c1",
                asyncio.run(run_level(stack.base_url, requests, 1, model="chat")),
                {},
            )
        direct = asyncio.run(_direct_calls(requests))
    levels = {name: run.figures() for name, run in runs.items()}
    pipeline, injected = levels["pipeline_c1"], levels["pipeline_injected_errors_c1"]
    per_request = {
        name: {role: seconds * 1000 / len(runs[name].latencies) for role, seconds in roles.items()}
        for name, roles in cpu.items()
    }
    used, floor_used = per_request[f"pipeline_c{top}"], per_request[f"floor_c{top}"]
    result = {
        "floor_rps": round(levels[f"floor_c{top}"]["rps"], 1),
        "pipeline_rps": round(levels[f"pipeline_c{top}"]["rps"], 1),
        "ratio": round(levels[f"pipeline_c{top}"]["rps"] / levels[f"floor_c{top}"]["rps"], 3),
        "overhead_p50_ms": round(pipeline["p50"] - direct["p50"], 1),
        "overhead_p95_ms": round(pipeline["p95"] - direct["p95"], 1),
        "overhead_p99_ms": round(pipeline["p99"] - direct["p99"], 1),
        "overhead_p99_ms_injected_errors": round(injected["p99"] - direct["p99"], 1),
        "gateway_cpu_ms_per_request": round(used.get("gateway", float("nan")), 2),
        "server_cpu_ms_per_request": round(used.get("server", float("nan")), 2),
        "floor_gateway_cpu_ms_per_request": round(floor_used.get("floor", float("nan")), 2),
        "floor_server_cpu_ms_per_request": round(floor_used.get("server", float("nan")), 2),
        "cache_hit_p50_ms": round(levels["cache_hits_c1"]["p50"], 1),
        "cache_miss_p50_ms": round(levels["cache_misses_c1"]["p50"], 1),
        "cache_hit_gateway_cpu_ms_per_request": round(
            per_request["cache_hits_c1"].get("gateway", float("nan")), 2
        ),
        "cache_miss_gateway_cpu_ms_per_request": round(
            per_request["cache_misses_c1"].get("gateway", float("nan")), 2
        ),
        "requests_per_level": requests * rounds,
        "rounds": rounds,
        "levels": {name: _rounded(figures) for name, figures in levels.items()}
        | {"direct_c1": _rounded(direct)},
    }
    if as_json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return result


def _pool(
    runs: dict[str, Level],
    cpu: dict[str, dict[str, float]],
    name: str,
    run: Level,
    usage: dict[str, float],
) -> None:
    runs[name] = runs[name] + run if name in runs else run
    for role, seconds in usage.items():
        cpu.setdefault(name, {})[role] = cpu.get(name, {}).get(role, 0.0) + seconds


@contextlib.contextmanager
def floor_gateway(stack: Stack) -> Iterator[str]:
    """The floor's gateway process, on the stack's dev server and database."""
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}",
        "TEMPORAL_NAMESPACE": "default",
        "INTERLOCK_HOME": str(stack.home),
        "INTERLOCK_GATEWAY_PORT": str(port),
        # Its own request queue: the pipeline's workflow tasks must not land on this process.
        "INTERLOCK_REQUEST_TASK_QUEUE": "interlock-requests-floor",
        "INTERLOCK_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.floor_gateway"],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, process)
        yield base_url
    finally:
        stop(process)


def _wait_for_health(base_url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the floor gateway exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the floor gateway did not come up")


async def _direct_calls(requests: int) -> dict[str, float]:
    """The provider alone: what the pipeline's overhead is measured against."""
    provider = SimulatedProvider(seed=0, latency_scale=0.0)
    target = RouteTarget(
        variant="baseline", provider="simulated", model="sim-fast", options={"error_rate": 0.0}
    )
    chat = ChatRequest(messages=[ChatMessage(role="user", content="benchmark request")])
    latencies = []
    for i in range(requests):
        began = time.perf_counter()
        await provider.complete(f"direct-{i}", target, chat, attempt=1)
        latencies.append((time.perf_counter() - began) * 1000)
    quantiles = statistics.quantiles(latencies, n=100)
    return {"requests": requests, "p50": quantiles[49], "p95": quantiles[94], "p99": quantiles[98]}


def _with_cpu(run: Callable[[], Level]) -> tuple[Level, dict[str, float]]:
    """What `run` returns, and the CPU seconds that the pipeline's gateway process, the floor's
    gateway process and the Temporal server each spent while it ran."""
    root = os.getpid()  # both gateways and the server run below this process
    before = _process_cpu(root)
    figures = run()
    after = _process_cpu(root)
    usage: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        if role and pid in before:
            usage[role] = usage.get(role, 0.0) + seconds - before[pid][1]
    return figures, usage


def _process_cpu(root: int) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds) for `root` and every process below it (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, float, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks, command)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (parent, _, _) in table.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    roles = {}
    for pid in tree & table.keys():
        command = table[pid][2]
        role = next((name for part, name in _ROLES.items() if part in command), "")
        roles[pid] = (role, table[pid][1])
    return roles


_ROLES = {"start-dev": "server", "cli gateway": "gateway", "benchmarks.floor_gateway": "floor"}


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in figures.items()}
