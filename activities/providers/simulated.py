"""The simulated provider: a real provider implementation whose upstream is a random model.

It is the embedded default for demos and tests. Each model has a profile (latency distribution,
error rate, token counts, prices, quality); a route variant's `options` override any field. Every
draw comes from a generator seeded by (global seed, request id, model, attempt), so one request
always meets the same fate on the same attempt, while a retry gets a fresh draw.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.providers.errors import (
    ContextWindowExceeded,
    ProviderBadRequest,
    ProviderStreamInterrupted,
    ProviderUnavailable,
    UnknownModel,
)
from activities.providers.model_catalog import UNKNOWN, ModelCapabilities
from contracts.chat import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from contracts.routing import RouteTarget


class SimulatedModelProfile(BaseModel):
    # A misspelt option must be an error, not a route quietly running on defaults.
    model_config = ConfigDict(extra="forbid")

    latency_median_ms: float = Field(300.0, ge=0)
    latency_sigma: float = Field(0.35, ge=0, description="Sigma of the log-normal latency.")
    error_rate: float = Field(0.01, ge=0, le=1)
    output_tokens_mean: float = Field(120.0, gt=0)
    input_price_per_mtok: float = Field(0.5, ge=0, description="USD per million input tokens.")
    output_price_per_mtok: float = Field(1.5, ge=0, description="USD per million output tokens.")
    quality_mean: float = Field(0.75, ge=0, le=1)
    quality_sd: float = Field(0.1, ge=0)
    context_window: int = Field(128_000, gt=0)
    tools: bool = Field(True, description="Takes tools; a request with tools is refused if not.")
    structured_output: bool = Field(
        True, description="Answers JSON to a response_format; such a request is refused if not."
    )
    region: str | None = Field(None, description="Where it claims to run, for region constraints.")
    judge: bool = Field(
        False,
        description="Answer as a pairwise judge: '1', '2' or 'tie' for the answer whose words "
        "show more quality (the simulator's answers carry their quality in their words).",
    )
    first_bias: float = Field(
        0.0, ge=0, le=1, description="judge: share of askings it answers '1' whatever it reads."
    )
    echo: bool = Field(
        False, description="Answer with the last user message: shows what the model was sent."
    )
    stream_cut_rate: float = Field(
        0.0, ge=0, le=1, description="Share of streams that break off before their end."
    )
    # Fixed waits, unaffected by the latency scale: an upstream that hangs or dribbles, for
    # timeout and disconnect tests and for demos of slow providers.
    stall_ms: float = Field(0.0, ge=0, description="Wait before answering, never scaled.")
    timeout_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of calls that hang for timeout_ms and then fail as timed out, as an "
        "HTTP client gives up on an upstream that does not answer.",
    )
    timeout_ms: float = Field(
        1000.0, gt=0, description="How long a timed-out call hangs first, never scaled."
    )
    chunk_interval_ms: float = Field(
        0.0, ge=0, description="Wait between streamed chunks, never scaled."
    )
    stream_chunk_chars: int | None = Field(
        None,
        gt=0,
        description="Stream the answer in pieces of this many characters (as tokenizers cut "
        "words) rather than a word at a time.",
    )


DEFAULT_PROFILES: dict[str, SimulatedModelProfile] = {
    "sim-fast": SimulatedModelProfile(
        latency_median_ms=120,
        error_rate=0.01,
        output_tokens_mean=90,
        input_price_per_mtok=0.15,
        output_price_per_mtok=0.6,
        quality_mean=0.70,
    ),
    "sim-smart": SimulatedModelProfile(
        latency_median_ms=650,
        latency_sigma=0.45,
        error_rate=0.005,
        output_tokens_mean=180,
        input_price_per_mtok=3.0,
        output_price_per_mtok=15.0,
        quality_mean=0.86,
    ),
    "sim-flaky": SimulatedModelProfile(
        latency_median_ms=200,
        error_rate=0.2,
        output_tokens_mean=100,
        quality_mean=0.65,
    ),
    "sim-judge": SimulatedModelProfile(
        latency_median_ms=250, error_rate=0.0, output_tokens_mean=1, judge=True
    ),
}

_WORDS = (
    "the",
    "gateway",
    "routes",
    "each",
    "request",
    "through",
    "a",
    "durable",
    "workflow",
    "and",
    "records",
    "its",
    "outcome",
    "so",
    "every",
    "change",
    "is",
    "measured",
    "before",
    "it",
    "reaches",
    "users",
    "model",
    "answer",
    "simulated",
    "tokens",
    "latency",
    "quality",
)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def estimate_tokens(text: str) -> int:
    # About four characters a token for English; good enough for a simulator's accounting.
    return max(1, math.ceil(len(text) / 4))


class SimulatedProvider:
    name = "simulated"

    def __init__(
        self,
        seed: int = 0,
        latency_scale: float = 1.0,
        profiles: dict[str, SimulatedModelProfile] | None = None,
    ) -> None:
        self.seed = seed
        self.latency_scale = latency_scale
        self.profiles = dict(DEFAULT_PROFILES if profiles is None else profiles)

    def prices(self, model: str, options: dict) -> tuple[float, float] | None:
        if model not in self.profiles:
            return None
        profile = self._apply_options(self.profiles[model], options)
        return profile.input_price_per_mtok, profile.output_price_per_mtok

    def known_models(self) -> list[str]:
        return sorted(self.profiles)

    def capabilities(self, model: str, options: dict) -> ModelCapabilities:
        if model not in self.profiles:
            return UNKNOWN
        profile = self._apply_options(self.profiles[model], options)
        return ModelCapabilities(
            context_window=profile.context_window,
            tools=profile.tools,
            structured_output=profile.structured_output,
        )

    def region(self, model: str, options: dict) -> str | None:
        if model not in self.profiles:
            return None
        return self._apply_options(self.profiles[model], options).region

    def target_problem(self, model: str, options: dict) -> str | None:
        if model not in self.profiles:
            return f"the simulated provider has no model {model!r}"
        try:
            self._apply_options(self.profiles[model], options)
        except ValidationError as exc:
            return f"invalid simulated options: {_first_error(exc)}"
        return None

    @staticmethod
    def _apply_options(base: SimulatedModelProfile, options: dict) -> SimulatedModelProfile:
        return SimulatedModelProfile.model_validate({**base.model_dump(), **options})

    def profile_for(self, target: RouteTarget) -> SimulatedModelProfile:
        base = self.profiles.get(target.model)
        if base is None:
            raise UnknownModel(f"simulated provider has no model {target.model!r}")
        try:
            return self._apply_options(base, target.options)
        except ValidationError as exc:
            raise ProviderBadRequest(
                f"invalid simulated options for {target.model!r}: {_first_error(exc)}"
            ) from exc

    def _rng(self, request_id: str, model: str, attempt: int) -> random.Random:
        material = f"{self.seed}:{request_id}:{model}:{attempt}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))

    async def complete(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> ChatResponse:
        profile = self.profile_for(target)
        rng = self._rng(request_id, target.model, attempt)
        latency_ms = profile.latency_median_ms * math.exp(rng.gauss(0.0, profile.latency_sigma))
        failed = rng.random() < profile.error_rate
        # Drawn only when asked for, so that every other profile's answers stay as they were.
        timed_out = profile.timeout_rate > 0 and rng.random() < profile.timeout_rate
        if chat.tools and not profile.tools:
            raise ProviderBadRequest(f"simulated model {target.model} takes no tools")
        if chat.response_format is not None and not profile.structured_output:
            raise ProviderBadRequest(f"simulated model {target.model} has no structured output")
        input_tokens = sum(estimate_tokens(m.content) for m in chat.messages)
        if input_tokens > profile.context_window:
            raise ContextWindowExceeded(
                f"{input_tokens} input tokens exceed the "
                f"{profile.context_window}-token context window"
            )
        wanted = max(1, round(rng.expovariate(1.0 / profile.output_tokens_mean)))
        limit = chat.params.max_tokens
        output_tokens = min(wanted, limit) if limit else wanted
        quality = min(1.0, max(0.0, rng.gauss(profile.quality_mean, profile.quality_sd)))
        # An answer's quality shows in its words, so a judge reading two answers can tell.
        words = [
            rng.choice(_GOOD_WORDS if rng.random() < quality else _WORDS)
            for _ in range(output_tokens)
        ]

        if timed_out:
            await asyncio.sleep(profile.timeout_ms / 1000.0)
            raise ProviderUnavailable(
                f"simulated upstream timeout: {target.model} did not answer in "
                f"{profile.timeout_ms:g} ms"
            )
        await asyncio.sleep(latency_ms * self.latency_scale / 1000.0 + profile.stall_ms / 1000.0)
        if failed:
            raise ProviderUnavailable(f"simulated upstream error from {target.model}")

        text = " ".join(words).capitalize() + "."
        if profile.echo:
            text = next((m.content for m in reversed(chat.messages) if m.role == "user"), "")
            output_tokens = estimate_tokens(text)
        if chat.response_format is not None:
            text = _json_answer(chat, text)
        if profile.judge:
            text = _judged(chat, rng, profile.first_bias)
            output_tokens = 1
        cost = (
            input_tokens * profile.input_price_per_mtok
            + output_tokens * profile.output_price_per_mtok
        ) / 1_000_000
        tool_call = _tool_call_for(chat, request_id)
        truncated = limit is not None and wanted > limit and not profile.echo
        finish_reason: FinishReason = "length" if truncated else "stop"
        if tool_call is not None:
            text, finish_reason = "", "tool_calls"
        return ChatResponse(
            provider=self.name,
            model=target.model,
            text=text,
            tool_calls=[tool_call] if tool_call else [],
            finish_reason=finish_reason,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            cost_usd=cost,
            latency_ms=latency_ms * self.latency_scale + profile.stall_ms,
            quality_score=quality,
        )

    async def stream(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> AsyncIterator[StreamChunk]:
        response = await self.complete(request_id, target, chat, attempt)
        profile = self.profile_for(target)
        cut = self._rng(request_id, target.model + ":stream", attempt).random()
        size = profile.stream_chunk_chars
        pieces = (
            [response.text[i : i + size] for i in range(0, len(response.text), size)]
            if size
            else re.findall(r"\S+\s*", response.text)
        )
        for index, piece in enumerate(pieces):
            if cut < profile.stream_cut_rate and index >= len(pieces) // 2:
                raise ProviderStreamInterrupted(f"simulated stream from {target.model} broke off")
            if index and profile.chunk_interval_ms:
                await asyncio.sleep(profile.chunk_interval_ms / 1000.0)
            yield StreamChunk(text=piece)
        for index, call in enumerate(response.tool_calls):
            yield StreamChunk(tool_calls=[ToolCallDelta.whole(index, call)])
        yield StreamChunk(
            finish_reason=response.finish_reason, usage=response.usage, cost_usd=response.cost_usd
        )


_GOOD_WORDS = (
    "accurate",
    "clear",
    "precise",
    "complete",
    "grounded",
    "helpful",
    "correct",
    "careful",
)
_GOOD = frozenset(_GOOD_WORDS)
_ANSWERS = re.compile(r"Answer 1:\n(?P<first>.*?)\n\nAnswer 2:\n(?P<second>.*)\Z", re.DOTALL)


def _judged(chat: ChatRequest, rng: random.Random, first_bias: float) -> str:
    """A judge's pick between the two answers in its prompt: the one whose words show more
    quality, a tie when they show the same; '1' regardless in a `first_bias` share of askings."""
    if rng.random() < first_bias:
        return "1"
    found = _ANSWERS.search(chat.messages[-1].content)
    if found is None:
        return "tie"

    def shown(text: str) -> float:
        words = re.findall(r"[a-z]+", text.lower())
        return sum(word in _GOOD for word in words) / len(words) if words else 0.0

    first, second = shown(found["first"]), shown(found["second"])
    if abs(first - second) < 0.02:
        return "tie"
    return "1" if first > second else "2"


_SCHEMA_EXAMPLES = {
    "string": "example",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
}


def example_of(schema: dict[str, Any], depth: int = 0) -> Any:
    """A value that meets a JSON schema's common forms: objects with their required properties,
    arrays of one item, enums, and the plain types."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if depth < 8 and kind == "object":
        properties = schema.get("properties", {})
        return {
            name: example_of(properties.get(name, {}), depth + 1)
            for name in schema.get("required", [])
        }
    if depth < 8 and kind == "array" and isinstance(schema.get("items"), dict):
        return [example_of(schema["items"], depth + 1)]
    return _SCHEMA_EXAMPLES.get(kind)


def _json_answer(chat: ChatRequest, text: str) -> str:
    """The answer as JSON: the schema's example, or the words as an object's one field."""
    wanted = chat.response_format
    assert wanted is not None
    if wanted.json_schema is None:
        return json.dumps({"answer": text})
    return json.dumps(example_of(wanted.json_schema))


def _tool_call_for(chat: ChatRequest, request_id: str) -> ToolCall | None:
    """Ask for a tool when tools are offered and the last turn is the user's (not a result).

    Arguments fill the schema's required properties with example values of their types, so a
    client's tool loop can be exercised end to end against the simulator.
    """
    if not chat.tools or chat.tool_choice == "none" or chat.messages[-1].role != "user":
        return None
    named = [t for t in chat.tools if t.name == chat.tool_choice]
    tool = named[0] if named else chat.tools[0]
    digest = hashlib.sha256(f"{request_id}:{tool.name}".encode()).hexdigest()[:24]
    arguments = example_of({**tool.parameters, "type": "object"})
    return ToolCall(id=f"call_{digest}", name=tool.name, arguments=json.dumps(arguments))
