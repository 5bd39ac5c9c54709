"""Streaming benchmark: what output guardrails add to time-to-first-token and between chunks.

Starts `interlock dev` (as benchmarks.request_path does) and publishes two routes over the same
simulated model, which sends a chunk of `--chunk-chars` characters every `--interval-ms` (four
characters every 20 ms by default, about 50 tokens a second):
`stream-plain`, whose output checks only log, and `stream-guarded`, with the demo route's
guardrails (output secrets redacted, input personal data redacted and restored). Each gets the
same requests one after another; the figures are the client's view through the openai wire
format: time to the first content chunk, the gaps between content chunks, and the whole answer.

    .venv/bin/python -m benchmarks.stream_latency [--requests 40] [--interval-ms 20]
        [--chunk-chars 4]

Only 127.0.0.1 is contacted; every loop is bounded by a count.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.request_path import API_KEY, running_stack
from contracts.guardrails import GuardrailPolicy
from contracts.routing import RouteTarget
from store import create_store_engine
from store.guardrails import route_policy, set_route_policy
from store.routes import publish_route

PROMPT = "Describe the signal box at the junction, and mail the notes to ada@example.com."


def publish_routes(home: Path, interval_ms: float, chunk_chars: int) -> None:
    engine = create_store_engine(f"sqlite:///{home / 'interlock.db'}")
    try:
        demo_policy = route_policy(engine, "chat")
        assert demo_policy is not None, "the dev stack seeds the demo route's guardrails"
        target = RouteTarget(
            variant="baseline",
            provider="simulated",
            model="sim-fast",
            options={
                "error_rate": 0.0,
                "chunk_interval_ms": interval_ms,
                **({"stream_chunk_chars": chunk_chars} if chunk_chars else {}),
            },
        )
        for name, policy in (("stream-plain", GuardrailPolicy()), ("stream-guarded", demo_policy)):
            publish_route(engine, name, [target])
            set_route_policy(engine, name, policy)
    finally:
        engine.dispose()


async def one_stream(http: httpx.AsyncClient, route: str, request: int) -> dict[str, object]:
    body = {
        "model": route,
        "stream": True,
        # Different words each time, the same across routes: request i gets the same answer.
        "messages": [{"role": "user", "content": f"{PROMPT} ({request})"}],
    }
    sent = time.perf_counter()
    arrivals: list[float] = []
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                arrivals.append(time.perf_counter())
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return {
        "ttft": (arrivals[0] - sent) * 1000 if arrivals else float("nan"),
        "total": ((arrivals[-1] if arrivals else time.perf_counter()) - sent) * 1000,
        "gaps": gaps,
        "chunks": len(arrivals),
    }


async def measure(base_url: str, route: str, requests: int) -> dict[str, float]:
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as http:
        await one_stream(http, route, -1)  # warm-up
        runs = [await one_stream(http, route, i) for i in range(requests)]
    gaps = [g for run in runs for g in run["gaps"]]  # type: ignore[attr-defined]
    ttft = [run["ttft"] for run in runs]
    total = [run["total"] for run in runs]
    return {
        "ttft_p50": statistics.median(ttft),  # type: ignore[arg-type]
        "ttft_p95": statistics.quantiles(ttft, n=20)[18],  # type: ignore[arg-type]
        # An answer sent whole has no gaps.
        "gap_p50": statistics.median(gaps) if gaps else float("nan"),
        "gap_p95": statistics.quantiles(gaps, n=20)[18] if len(gaps) > 1 else float("nan"),
        "total_p50": statistics.median(total),  # type: ignore[arg-type]
        "chunks": statistics.mean(run["chunks"] for run in runs),  # type: ignore[misc]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument(
        "--chunk-chars",
        type=int,
        default=4,
        help="characters per chunk, as a tokenizer cuts words (0: a word per chunk)",
    )
    args = parser.parse_args()

    with running_stack() as stack:
        base_url = stack.base_url
        publish_routes(stack.home, args.interval_ms, args.chunk_chars)
        print(
            f"a chunk ({args.chunk_chars or 'a word'} characters) every "
            f"{args.interval_ms:g} ms, {args.requests} streams per route, one at a time; "
            "milliseconds"
        )
        print(
            f"{'route':>15} {'chunks':>6} {'TTFT p50':>8} {'TTFT p95':>8} "
            f"{'gap p50':>7} {'gap p95':>7} {'total p50':>9}"
        )
        for route in ("stream-plain", "stream-guarded"):
            r = asyncio.run(measure(base_url, route, args.requests))
            print(
                f"{route:>15} {r['chunks']:>6.1f} {r['ttft_p50']:>8.1f} {r['ttft_p95']:>8.1f} "
                f"{r['gap_p50']:>7.1f} {r['gap_p95']:>7.1f} {r['total_p50']:>9.1f}"
            )


if __name__ == "__main__":
    main()
