"""The simulated provider and variant selection: deterministic, and statistically what they claim.

Statistical checks use bounds of about five binomial standard deviations, so they would hold for
any seed with probability above 0.999999; with the fixed seeds here they are also reproducible.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from activities.providers.errors import (
    ProviderBadRequest,
    ProviderError,
    ProviderStreamInterrupted,
    ProviderUnavailable,
    UnknownModel,
)
from activities.providers.simulated import DEFAULT_PROFILES, SimulatedProvider, estimate_tokens
from contracts.chat import ChatMessage, ChatRequest, ChatResponse, SamplingParams, ToolSpec
from contracts.routing import RouteTarget
from workflows.selection import pick_target, unit_interval

FIVE_SIGMA = 5.0


def binomial_tolerance(n: int, p: float) -> float:
    """Five standard deviations of a binomial share with n trials and success probability p."""
    return FIVE_SIGMA * math.sqrt(p * (1 - p) / n)


def target(
    model: str = "sim-fast", variant: str = "v", weight: float = 1.0, **options
) -> RouteTarget:
    return RouteTarget(
        variant=variant, provider="simulated", model=model, weight=weight, options=options
    )


def chat(content: str = "Hello there, simulator", max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(
        messages=[ChatMessage(role="user", content=content)],
        params=SamplingParams(max_tokens=max_tokens),
    )


@pytest.fixture
def provider() -> SimulatedProvider:
    return SimulatedProvider(seed=7, latency_scale=0.0)


async def outcome(
    provider: SimulatedProvider,
    request_id: str,
    tgt: RouteTarget,
    attempt: int = 1,
    request: ChatRequest | None = None,
) -> ChatResponse | ProviderError:
    try:
        return await provider.complete(request_id, tgt, request or chat(), attempt)
    except ProviderError as exc:
        return exc


# --- determinism ---


async def test_same_inputs_give_the_same_response(provider: SimulatedProvider) -> None:
    tgt = target("sim-smart", error_rate=0.0)
    again = SimulatedProvider(seed=7, latency_scale=0.0)
    for i in range(50):
        first = await provider.complete(f"req-{i}", tgt, chat(), 1)
        second = await again.complete(f"req-{i}", tgt, chat(), 1)
        assert first == second
        assert first.provider == "simulated" and first.model == "sim-smart"
        assert first.text and first.usage.output_tokens >= 1
        assert first.quality_score is not None and 0.0 <= first.quality_score <= 1.0


async def test_failures_are_deterministic_too(provider: SimulatedProvider) -> None:
    tgt = target("sim-flaky")
    first = [type(await outcome(provider, f"req-{i}", tgt)) for i in range(200)]
    second = [type(await outcome(provider, f"req-{i}", tgt)) for i in range(200)]
    assert first == second
    assert ProviderUnavailable in first and ChatResponse in first


def fingerprint(response: ChatResponse) -> tuple:
    return response.text, response.quality_score, response.usage.output_tokens


async def test_seed_attempt_and_request_id_each_change_the_draw(
    provider: SimulatedProvider,
) -> None:
    tgt = target(error_rate=0.0)
    other_seed = SimulatedProvider(seed=8, latency_scale=0.0)
    sample = 50
    base = [fingerprint(await provider.complete(f"r{i}", tgt, chat(), 1)) for i in range(sample)]
    seeded = [
        fingerprint(await other_seed.complete(f"r{i}", tgt, chat(), 1)) for i in range(sample)
    ]
    retried = [fingerprint(await provider.complete(f"r{i}", tgt, chat(), 2)) for i in range(sample)]
    # Quality is a continuous draw, so two independent draws essentially never coincide.
    assert sum(a != b for a, b in zip(base, seeded, strict=True)) >= sample - 1
    assert sum(a != b for a, b in zip(base, retried, strict=True)) >= sample - 1
    assert len(set(base)) >= sample - 1


async def test_model_is_part_of_the_seed(provider: SimulatedProvider) -> None:
    fast = await provider.complete("same-id", target("sim-fast", error_rate=0.0), chat(), 1)
    flaky = await provider.complete("same-id", target("sim-flaky", error_rate=0.0), chat(), 1)
    assert fingerprint(fast) != fingerprint(flaky)


# --- errors ---


async def test_error_rate_matches_the_profile(provider: SimulatedProvider) -> None:
    n, p = 2000, 0.2
    assert DEFAULT_PROFILES["sim-flaky"].error_rate == p
    results = [await outcome(provider, f"req-{i}", target("sim-flaky")) for i in range(n)]
    failed = [i for i, r in enumerate(results) if isinstance(r, ProviderError)]
    assert all(isinstance(results[i], ProviderUnavailable) for i in failed)
    share = len(failed) / n
    assert abs(share - p) <= binomial_tolerance(n, p)  # 0.2 +/- 0.045

    # A retry is a fresh draw: about 80% of the failed requests succeed on attempt 2, and
    # (0.2 ** 9 per request) every one of them within ten attempts.
    retried = [await outcome(provider, f"req-{i}", target("sim-flaky"), 2) for i in failed]
    recovered = sum(isinstance(r, ChatResponse) for r in retried) / len(failed)
    assert abs(recovered - (1 - p)) <= binomial_tolerance(len(failed), p)
    for i in failed:
        for attempt in range(2, 11):
            if isinstance(
                await outcome(provider, f"req-{i}", target("sim-flaky"), attempt), ChatResponse
            ):
                break
        else:
            pytest.fail(f"req-{i} failed on ten attempts in a row")


async def test_timeouts_hang_for_their_time_then_fail_as_unavailable(
    provider: SimulatedProvider,
) -> None:
    n, p = 400, 0.3
    slow = target("sim-fast", error_rate=0.0, timeout_rate=p, timeout_ms=20)
    began = time.monotonic()
    results = [await outcome(provider, f"req-{i}", slow) for i in range(n)]
    timed_out = [r for r in results if isinstance(r, ProviderError)]
    assert all(isinstance(r, ProviderUnavailable) and "timeout" in str(r) for r in timed_out)
    assert abs(len(timed_out) / n - p) <= binomial_tolerance(n, p)
    # Each one hung for its 20 ms, whatever the latency scale.
    assert time.monotonic() - began >= len(timed_out) * 0.02


async def test_option_error_rate_overrides_the_profile(provider: SimulatedProvider) -> None:
    always = target("sim-fast", error_rate=1.0)
    never = target("sim-flaky", error_rate=0.0)
    for i in range(300):
        with pytest.raises(ProviderUnavailable) as failure:
            await provider.complete(f"req-{i}", always, chat(), 1)
        assert failure.value.retryable is True
        assert isinstance(await provider.complete(f"req-{i}", never, chat(), 1), ChatResponse)


async def test_other_options_override_the_profile(provider: SimulatedProvider) -> None:
    tgt = target(
        "sim-fast",
        error_rate=0.0,
        quality_mean=1.0,
        quality_sd=0.0,
        input_price_per_mtok=1_000_000.0,
        output_price_per_mtok=0.0,
    )
    request = chat("x" * 40)  # 10 input tokens
    response = await provider.complete("req", tgt, request, 1)
    assert response.quality_score == 1.0
    assert response.cost_usd == pytest.approx(10.0)
    # The provider's own profiles are untouched by a variant's options.
    assert DEFAULT_PROFILES["sim-fast"].quality_mean == 0.70
    assert provider.profiles["sim-fast"].error_rate == 0.01


@pytest.mark.parametrize(
    "options",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"error_rate": "often"},
        {"latency_median_ms": -1},
        {"output_tokens_mean": 0},
        {"context_window": 0},
        {"quality_mean": 2},
    ],
)
async def test_invalid_options_are_a_bad_request(
    provider: SimulatedProvider, options: dict
) -> None:
    with pytest.raises(ProviderBadRequest, match="invalid simulated options") as failure:
        await provider.complete("req", target("sim-fast", **options), chat(), 1)
    assert failure.value.retryable is False
    assert failure.value.to_application_error().non_retryable is True


async def test_unknown_model(provider: SimulatedProvider) -> None:
    assert provider.target_problem("sim-fast", {}) is None
    assert "no model 'gpt-9'" in provider.target_problem("gpt-9", {})
    with pytest.raises(UnknownModel, match="gpt-9") as failure:
        await provider.complete("req", target("gpt-9"), chat(), 1)
    assert failure.value.retryable is False


async def test_input_beyond_the_context_window_is_a_bad_request(
    provider: SimulatedProvider,
) -> None:
    tgt = target("sim-fast", context_window=10, error_rate=0.0)
    fits = await provider.complete("req", tgt, chat("y" * 40), 1)  # exactly 10 tokens
    assert fits.usage.input_tokens == 10
    with pytest.raises(ProviderBadRequest, match="11 input tokens exceed the 10-token"):
        await provider.complete("req", tgt, chat("y" * 41), 1)
    # Every message counts, and a bad request is bad whatever the error draw.
    two = ChatRequest(
        messages=[
            ChatMessage(role="system", content="z" * 24),
            ChatMessage(role="user", content="z" * 24),
        ]
    )
    with pytest.raises(ProviderBadRequest):
        await provider.complete(
            "req", target("sim-fast", context_window=10, error_rate=0.0), two, 1
        )


# --- tokens, cost, latency ---


async def test_max_tokens_caps_output_and_reports_length(provider: SimulatedProvider) -> None:
    tgt = target("sim-fast", error_rate=0.0)
    capped_any = 0
    for i in range(100):
        free = await provider.complete(f"req-{i}", tgt, chat(), 1)
        assert free.finish_reason == "stop"
        wanted = free.usage.output_tokens
        capped = await provider.complete(f"req-{i}", tgt, chat(max_tokens=5), 1)
        assert capped.usage.output_tokens == min(wanted, 5)
        assert len(capped.text.split()) == capped.usage.output_tokens
        assert capped.finish_reason == ("length" if wanted > 5 else "stop")
        capped_any += wanted > 5
        exact = await provider.complete(f"req-{i}", tgt, chat(max_tokens=wanted), 1)
        assert (exact.usage.output_tokens, exact.finish_reason) == (wanted, "stop")
        roomy = await provider.complete(f"req-{i}", tgt, chat(max_tokens=wanted + 100), 1)
        assert roomy == free
    assert capped_any >= 80  # output averages 90 tokens, so five is almost always too few


async def test_cost_is_tokens_times_profile_prices(provider: SimulatedProvider) -> None:
    request = ChatRequest(
        messages=[
            ChatMessage(role="system", content="s" * 400),  # 100 tokens
            ChatMessage(role="user", content="u" * 201),  # 51 tokens
        ]
    )
    assert estimate_tokens("u" * 201) == 51 and estimate_tokens("") == 1
    for model in ("sim-fast", "sim-smart", "sim-flaky"):
        profile = DEFAULT_PROFILES[model]
        response = await provider.complete("req-cost", target(model, error_rate=0.0), request, 1)
        assert response.usage.input_tokens == 151
        expected = (
            151 * profile.input_price_per_mtok
            + response.usage.output_tokens * profile.output_price_per_mtok
        ) / 1_000_000
        assert response.cost_usd == pytest.approx(expected, rel=1e-12)
        assert response.cost_usd > 0


T = TypeVar("T")


def run_without_waiting(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs `coroutine` to its end by hand. A coroutine that waits on anything (a timer from
    asyncio.sleep with a delay, a future) hands that out here, which fails the test; a bare
    `asyncio.sleep(0)` only yields None."""
    try:
        while True:
            waited_on = coroutine.send(None)
            assert waited_on is None, f"the coroutine waited on {waited_on!r}"
    except StopIteration as finished:
        return finished.value
    finally:
        coroutine.close()


async def test_latency_scale_zero_is_instant(provider: SimulatedProvider) -> None:
    # A one-minute median: any real sleep at all would have to wait on a timer.
    tgt = target("sim-smart", error_rate=0.0, latency_median_ms=60_000)
    for i in range(20):
        response = run_without_waiting(provider.complete(f"req-{i}", tgt, chat(), 1))
        assert response.latency_ms == 0.0


async def test_latency_scale_applies_to_the_sleep_and_the_report() -> None:
    # A one-minute median with no spread, scaled by 1/1000: a real 60 ms wait.
    scaled = SimulatedProvider(seed=7, latency_scale=0.001)
    tgt = target("sim-fast", error_rate=0.0, latency_median_ms=60_000, latency_sigma=0.0)
    started = time.perf_counter()
    response = await scaled.complete("req", tgt, chat(), 1)
    elapsed = time.perf_counter() - started
    assert response.latency_ms == pytest.approx(60.0)
    assert elapsed >= 0.055


# --- variant selection ---


def variants(*weights: float) -> list[RouteTarget]:
    return [target(variant=f"v{i}", weight=w) for i, w in enumerate(weights)]


def test_pick_target_is_a_function_of_the_request_id() -> None:
    targets = variants(1, 1, 1)
    picks = [pick_target(targets, f"req-{i}").variant for i in range(200)]
    assert picks == [pick_target(variants(1, 1, 1), f"req-{i}").variant for i in range(200)]
    assert set(picks) == {"v0", "v1", "v2"}
    # The choice is the request id's point on [0, 1) against cumulative weights.
    for i in range(200):
        point = unit_interval(f"req-{i}")
        assert 0.0 <= point < 1.0
        assert picks[i] == f"v{min(int(point * 3), 2)}"


def test_weights_set_the_shares() -> None:
    n = 10_000
    counts = Counter(pick_target(variants(0.9, 0.1), f"req-{i}").variant for i in range(n))
    assert set(counts) == {"v0", "v1"}
    assert abs(counts["v1"] / n - 0.1) <= binomial_tolerance(n, 0.1)  # 0.1 +/- 0.015
    # Weights are relative: 9 and 1 split traffic exactly as 0.9 and 0.1 do.
    assert all(
        pick_target(variants(9, 1), f"req-{i}").variant
        == pick_target(variants(0.9, 0.1), f"req-{i}").variant
        for i in range(1000)
    )


def test_zero_weight_variants_are_never_picked() -> None:
    n = 5000
    counts = Counter(pick_target(variants(1, 0, 1, 0), f"req-{i}").variant for i in range(n))
    assert set(counts) == {"v0", "v2"}
    assert abs(counts["v0"] / n - 0.5) <= binomial_tolerance(n, 0.5)
    only = variants(0, 0, 3)
    assert {pick_target(only, f"req-{i}").variant for i in range(500)} == {"v2"}


def test_no_positive_weight_raises() -> None:
    with pytest.raises(ValueError, match="positive weight"):
        pick_target(variants(0, 0), "req")
    with pytest.raises(ValueError, match="positive weight"):
        pick_target([], "req")


async def test_misspelt_option_is_refused_up_front_and_at_call_time(
    provider: SimulatedProvider,
) -> None:
    problem = provider.target_problem("sim-fast", {"eror_rate": 1.0})
    assert problem is not None and "eror_rate" in problem
    assert provider.target_problem("sim-fast", {"error_rate": 1.0}) is None
    with pytest.raises(ProviderBadRequest, match="eror_rate"):
        await provider.complete("req", target("sim-fast", eror_rate=1.0), chat(), 1)


# --- the same contract as the real adapters: streaming and tool calls ---


async def test_stream_reassembles_to_the_completion(provider: SimulatedProvider) -> None:
    whole = await provider.complete("req-s", target("sim-fast", error_rate=0.0), chat(), 1)
    chunks = [
        c async for c in provider.stream("req-s", target("sim-fast", error_rate=0.0), chat(), 1)
    ]
    assert "".join(c.text for c in chunks) == whole.text
    assert len(chunks) > 2
    assert chunks[-1].finish_reason == whole.finish_reason
    assert chunks[-1].usage == whole.usage
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_a_cut_stream_raises_instead_of_ending_quietly(provider: SimulatedProvider) -> None:
    cut = target("sim-fast", error_rate=0.0, stream_cut_rate=1.0)
    received = []
    with pytest.raises(ProviderStreamInterrupted) as failure:
        async for chunk in provider.stream("req-c", cut, chat(), 1):
            received.append(chunk)
    assert received and all(c.finish_reason is None for c in received)
    assert failure.value.retryable is True


async def test_tool_call_round_trip(provider: SimulatedProvider) -> None:
    weather = ToolSpec(
        name="get_weather",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    )
    asking = ChatRequest(
        messages=[ChatMessage(role="user", content="Weather in Oslo?")], tools=[weather]
    )
    first = await provider.complete("req-t", target("sim-fast", error_rate=0.0), asking, 1)
    assert first.finish_reason == "tool_calls" and first.text == ""
    [call] = first.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "example", "days": 1}
    continued = ChatRequest(
        messages=[
            *asking.messages,
            ChatMessage(role="assistant", tool_calls=first.tool_calls),
            ChatMessage(role="tool", tool_call_id=call.id, content='{"temp": 4}'),
        ],
        tools=[weather],
    )
    final = await provider.complete("req-t", target("sim-fast", error_rate=0.0), continued, 1)
    assert final.finish_reason == "stop" and final.text and not final.tool_calls
    none = asking.model_copy(update={"tool_choice": "none"})
    assert not (
        await provider.complete("req-t", target("sim-fast", error_rate=0.0), none, 1)
    ).tool_calls
    streamed = [
        c async for c in provider.stream("req-t", target("sim-fast", error_rate=0.0), asking, 1)
    ]
    [delta] = [d for c in streamed for d in c.tool_calls]
    assert (delta.id, delta.name, delta.arguments) == (call.id, call.name, call.arguments)


def test_retry_after_is_capped_for_temporal() -> None:
    from activities.providers.errors import MAX_RETRY_DELAY_SECONDS, ProviderRateLimited

    patient = ProviderRateLimited("slow down", retry_after_seconds=7).to_application_error()
    assert patient.next_retry_delay.total_seconds() == 7 and not patient.non_retryable
    greedy = ProviderRateLimited("come back tomorrow", retry_after_seconds=86_400)
    capped = greedy.to_application_error().next_retry_delay.total_seconds()
    assert capped == MAX_RETRY_DELAY_SECONDS


def test_retry_after_values() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from activities.providers.errors import parse_retry_after

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(soon) <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past) == 0.0
    for absent in (None, "", "inf", "nan", "soon"):
        assert parse_retry_after(absent) is None
