"""Plain-words summaries of a request for the Temporal Web UI.

They hold names an operator chose (route, variant, provider, model), numbers and outcomes; never
the client's text, which reaches Temporal only inside encrypted payloads.
"""

from __future__ import annotations

from contracts.chat import ChatResponse
from contracts.guardrails import Verdict
from contracts.routing import RouteTarget

# Settling's step summary, alone or after the call that answered.
SETTLE_SUMMARY = "settle: check the output, record the outcome"


def request_summary(
    route: str,
    target: RouteTarget,
    status: str,
    response: ChatResponse | None,
    output: Verdict | None,
    reason: str | None = None,
    cache_hit: bool = False,
) -> str:
    """One line: where the request went, why, and how it ended, e.g.
    `chat -> baseline (simulated/sim-fast): ok in 12 ms, 8 + 16 tokens, $0.000012`."""
    line = f"{route} -> {target.variant} ({target.provider}/{target.model}): {status}"
    if response is not None:
        usage = response.usage
        line += (
            f" in {response.latency_ms:.0f} ms, {usage.input_tokens} + {usage.output_tokens}"
            f" tokens, ${response.cost_usd:.6f}"
        )
    if cache_hit:
        line += " (from the response cache)"
    if output is not None and output.action != "none":
        line += f"; output guardrails: {output.action}"
    if reason is not None:
        line += f"; chosen: {reason}"
    return line
