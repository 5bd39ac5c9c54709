"""Client traffic for the reliability scenarios: bounded in count and time, loopback only.

Each request ends in exactly one of these ways, and every way is counted:
- answered: a 200 with a completion;
- refused: a 4xx or 5xx with an OpenAI-style error body (a clear error);
- unclear: any other status or body (never acceptable);
- connection_lost: the gateway went away while it held the request (the client sees the
  connection drop, as it would behind a load balancer whose backend died);
- hung: no end before the request's deadline (never acceptable).
A connection refused (no gateway listening, nothing sent) is retried until the deadline, as
clients and load balancers do; those retries are counted too.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

CONNECT_RETRY_SECONDS = 0.2


@dataclass
class TrafficResult:
    sent: int = 0
    answered: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    """Clear errors by 'status code' (e.g. '503 circuit_open')."""
    unclear: list[str] = field(default_factory=list)
    connection_lost: int = 0
    hung: int = 0
    connect_retries: int = 0
    answered_ids: set[str] = field(default_factory=set)
    refused_ids: set[str] = field(default_factory=set)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ended(self) -> int:
        return (
            self.answered + sum(self.refused.values()) + len(self.unclear) + (self.connection_lost)
        )

    @property
    def client_error_rate(self) -> float:
        """Share of requests the client did not get an answer to, whatever the reason."""
        return (self.sent - self.answered) / self.sent if self.sent else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    def figures(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "refused": dict(self.refused),
            "unclear": len(self.unclear),
            "connection_lost": self.connection_lost,
            "hung": self.hung,
            "connect_retries": self.connect_retries,
            "client_error_rate": round(self.client_error_rate, 5),
            "p50_ms": round(self.latency_ms(0.5), 1),
            "p99_ms": round(self.latency_ms(0.99), 1),
            "max_ms": round(max(self.latencies_ms, default=0.0), 1),
            "seconds": round(self.seconds, 1),
            "requests_per_second": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
        }


async def send_requests(
    base_url: str,
    api_key: str,
    route: str,
    count: int,
    concurrency: int,
    deadline_seconds: float,
    on_progress: Callable[[int], None] | None = None,
    result: TrafficResult | None = None,
) -> TrafficResult:
    """Send `count` chat requests to `route` at `concurrency`; each ends within its deadline."""
    result = result or TrafficResult()
    next_index = 0
    began = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=deadline_seconds
    ) as http:

        async def one(index: int) -> None:
            body = {
                "model": route,
                "messages": [{"role": "user", "content": f"reliability request {index}"}],
                "max_tokens": 32,
            }
            started = time.monotonic()
            try:
                async with asyncio.timeout(deadline_seconds):
                    while True:
                        try:
                            response = await http.post("/chat/completions", json=body)
                            break
                        except httpx.ConnectError:
                            result.connect_retries += 1
                            await asyncio.sleep(CONNECT_RETRY_SECONDS)
            except TimeoutError:
                result.hung += 1
                return
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                result.connection_lost += 1
                return
            result.latencies_ms.append((time.monotonic() - started) * 1000)
            _classify(response, result)

        async def lane() -> None:
            nonlocal next_index
            while next_index < count:
                index = next_index
                next_index += 1
                result.sent += 1
                if on_progress is not None:
                    on_progress(result.sent)
                await one(index)

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    result.seconds += time.monotonic() - began
    return result


def _classify(response: httpx.Response, result: TrafficResult) -> None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("choices"):
        result.answered += 1
        result.answered_ids.add(body["id"])
        return
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code >= 400 and isinstance(error, dict) and error.get("message"):
        result.refused[f"{response.status_code} {error.get('code') or error.get('type')}"] += 1
        if request_id := response.headers.get("x-request-id"):
            result.refused_ids.add(request_id)
        return
    result.unclear.append(f"{response.status_code}: {response.text[:200]}")
