"""An adapter for OpenAI-compatible chat-completions endpoints: OpenAI, vLLM, Ollama, llama.cpp.

It speaks the wire format directly over one shared httpx.AsyncClient per provider instance, so
connections are reused and nothing retries behind Temporal's back (httpx's transport makes no
retries unless asked). Every failure becomes a ProviderError subclass; their messages carry the
status and the provider's error type, code and (truncated) message, never prompt or answer text,
because they end up in logs and in Temporal's history.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, Field, ValidationError

from activities.providers.errors import (
    ContentPolicyRefusal,
    ContextWindowExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderMalformedResponse,
    ProviderRateLimited,
    ProviderStreamInterrupted,
    ProviderUnavailable,
    UnknownModel,
    parse_retry_after,
)
from activities.providers.model_catalog import ModelCapabilities, capabilities_of
from activities.providers.pricing import cost_usd, price_of, price_table
from contracts.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    ResponseFormat,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from contracts.routing import RouteTarget

PROVIDER_MESSAGE_LIMIT = 200

WireModel = TypeVar("WireModel", bound=BaseModel)

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",  # the pre-tools name some servers still send
    "content_filter": "content_filter",
}
_NAMED_TOOL_CHOICES = ("auto", "none", "required")

# Context-window refusals differ by server: OpenAI and vLLM say "maximum context length",
# llama.cpp "exceeds the available context size"; OpenAI also sets a code.
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error"}
_CONTEXT_MESSAGE = re.compile(
    r"maximum context length|context_length_exceeded|exceeds the available context size"
    r"|context window",
    re.IGNORECASE,
)
# OpenAI says content_policy_violation; Azure OpenAI says content_filter.
_POLICY_CODES = {"content_policy_violation", "content_filter"}
_POLICY_MESSAGE = re.compile(r"content (management )?policy|safety system", re.IGNORECASE)
# OpenAI's reset headers are Go-style durations: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


# --- the response wire format, only as much of it as the contract needs ---


class _WireFunction(BaseModel):
    name: str
    arguments: str = "{}"


class _WireToolCall(BaseModel):
    id: str | None = None
    function: _WireFunction


class _WireMessage(BaseModel):
    content: str | None = None
    tool_calls: list[_WireToolCall] | None = None


class _WireChoice(BaseModel):
    message: _WireMessage
    finish_reason: str | None = None


class _WireUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_usage(self) -> Usage:
        return Usage(input_tokens=self.prompt_tokens, output_tokens=self.completion_tokens)


class _WireCompletion(BaseModel):
    choices: list[_WireChoice]
    usage: _WireUsage | None = None


class _WireFunctionDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _WireToolCallDelta(BaseModel):
    index: int | None = None
    id: str | None = None
    function: _WireFunctionDelta | None = None


class _WireDelta(BaseModel):
    content: str | None = None
    tool_calls: list[_WireToolCallDelta] | None = None


class _WireStreamChoice(BaseModel):
    delta: _WireDelta = Field(default_factory=_WireDelta)
    finish_reason: str | None = None


class _WireStreamChunk(BaseModel):
    choices: list[_WireStreamChoice]
    usage: _WireUsage | None = None


# --- helpers ---


def _parse_wire(model: type[WireModel], raw: bytes | Any) -> WireModel | str:
    """The parsed model, or where and how the input failed to be one.

    The failure is returned rather than raised from: ValidationError quotes the offending input,
    which may be prompt or answer text, and an exception raised inside its handler would keep it
    as __context__ for tracebacks and logs to print. So only its place and kind get out.
    """
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        return f"{where}: {error['type']}"


def _finish_reason(raw: str, has_tool_calls: bool) -> FinishReason | None:
    """The contract's finish reason, or None for one it has no word for: those (vLLM's "abort",
    "error") mean the answer did not finish, and must not pass for a complete one."""
    reason = _FINISH_REASONS.get(raw)
    if reason is None:
        return None
    # Some servers (older Ollama and llama.cpp builds) report "stop" after emitting tool calls;
    # callers decide whether to run tools from finish_reason, so report what actually happened.
    if has_tool_calls and reason == "stop":
        return "tool_calls"
    return reason


def _parse_duration(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _finite_delay(seconds: float | None) -> float | None:
    # "inf" and "nan" parse as floats but would break timedelta in to_application_error.
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_after_seconds(headers: Mapping[str, str], *, rate_limited: bool) -> float | None:
    """How long the provider asked us to wait, from its headers, or None if it did not say.

    retry-after-ms (OpenAI) and Retry-After (seconds or an HTTP date) are explicit. On a 429
    without them, OpenAI's x-ratelimit-reset-{requests,tokens} say when the exhausted limit
    refills; they are on every response, so they are only read for a 429.
    """
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return _finite_delay(float(millis) / 1000)
        except ValueError:
            pass
    if (explicit := parse_retry_after(headers.get("retry-after"))) is not None:
        return explicit
    if not rate_limited:
        return None
    resets: list[float] = []
    for limit in ("requests", "tokens"):
        reset = _finite_delay(_parse_duration(headers.get(f"x-ratelimit-reset-{limit}", "")))
        if reset is None:
            continue
        if headers.get(f"x-ratelimit-remaining-{limit}", "").strip() == "0":
            return reset  # this is the limit that ran out
        resets.append(reset)
    return max(resets, default=None)


def _provider_error_fields(body: Any) -> tuple[str | None, str | None, str]:
    """(type, code, message) from a parsed error body in OpenAI's shape or vLLM's flat one."""
    if not isinstance(body, dict):
        return None, None, ""
    error = body.get("error", body)
    if isinstance(error, str):  # {"error": "model 'x' not found"}
        return None, None, error
    if not isinstance(error, dict):
        return None, None, ""
    error_type, code, message = error.get("type"), error.get("code"), error.get("message")
    return (
        str(error_type) if error_type is not None else None,
        str(code) if code is not None else None,
        message if isinstance(message, str) else "",
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _tool_call_to_wire(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def message_to_wire(message: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's request format; raises ProviderBadRequest if it cannot be one."""
    if message.role == "tool":
        if not message.tool_call_id:
            raise ProviderBadRequest("a tool message needs the tool_call_id it answers")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        wire["name"] = message.name
    if message.role == "assistant" and message.tool_calls:
        # OpenAI returns content null beside tool calls; sending it back the same way keeps the
        # continued conversation byte-for-byte what the API produced.
        wire["content"] = message.content or None
        wire["tool_calls"] = [_tool_call_to_wire(call) for call in message.tool_calls]
    return wire


def _response_format_to_wire(wanted: ResponseFormat) -> dict[str, Any]:
    if wanted.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": wanted.name or "answer"}
    for key, value in (
        ("description", wanted.description),
        ("schema", wanted.json_schema),
        ("strict", wanted.strict),
    ):
        if value is not None:
            spec[key] = value
    return {"type": "json_schema", "json_schema": spec}


def request_to_wire(model: str, chat: ChatRequest, *, stream: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "messages": [message_to_wire(m) for m in chat.messages],
    }
    if chat.tools:
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": tool.parameters,
                },
            }
            for tool in chat.tools
        ]
        # Without tools a tool_choice means nothing, and OpenAI rejects it with a 400.
        if chat.tool_choice is not None:
            payload["tool_choice"] = (
                chat.tool_choice
                if chat.tool_choice in _NAMED_TOOL_CHOICES
                else {"type": "function", "function": {"name": chat.tool_choice}}
            )
    if chat.response_format is not None:
        payload["response_format"] = _response_format_to_wire(chat.response_format)
    params = chat.params
    for key in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(params, key)
        if value is not None:
            payload[key] = value
    if params.stop:
        payload["stop"] = list(params.stop)
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The data of each server-sent event, in order (comments and other fields skipped)."""
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data_lines:
                yield "\n".join(data_lines)
                data_lines = []
            continue
        if line.startswith(":"):  # comment: keep-alives and proxies' progress notes
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data_lines.append(value.removeprefix(" "))
    # An event is complete only at its blank line, so anything pending is a truncated event and
    # is dropped (the caller then sees no [DONE]); a bare final [DONE] is complete either way.
    if data_lines == ["[DONE]"]:
        yield "[DONE]"


class OpenAICompatProvider:
    """A ChatProvider for one OpenAI-compatible endpoint (base_url ends before /chat/completions,
    e.g. https://api.openai.com/v1 or http://localhost:11434/v1)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        pricing_kind: str = "openai",
        timeout: float = 60,
        models: list[str] | None = None,
        region: str | None = None,
    ) -> None:
        """`timeout` bounds each network step (connect, each read, write), not a whole call, so
        a long stream lives as long as tokens keep coming; Temporal's activity timeouts bound
        the whole. `models` None means whatever the endpoint serves (vLLM, Ollama)."""
        # Refused here rather than met as a per-call transport error that Temporal would retry.
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.pricing_kind = pricing_kind
        self.timeout = timeout
        self.models = None if models is None else list(models)
        self.region_label = region
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._completions_url = f"{self.base_url}/chat/completions"
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout)

    def __repr__(self) -> str:  # never the api key
        return f"OpenAICompatProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    def prices(self, model: str, options: dict) -> tuple[float, float] | None:
        return price_of(self.pricing_kind, model)

    def known_models(self) -> list[str]:
        if self.models is not None:
            return list(self.models)
        return sorted(price_table().get(self.pricing_kind, {}))

    def capabilities(self, model: str, options: dict) -> ModelCapabilities:
        return capabilities_of(self.pricing_kind, model)

    def region(self, model: str, options: dict) -> str | None:
        return self.region_label

    def target_problem(self, model: str, options: dict) -> str | None:
        if self.models is not None and model not in self.models:
            return f"provider {self.name!r} does not serve model {model!r}"
        if options:
            # There are no options yet; a variant setting one would silently run without it.
            return f"provider {self.name!r} takes no options, got {sorted(options)}"
        return None

    # --- complete ---

    async def complete(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> ChatResponse:
        payload = request_to_wire(target.model, chat, stream=False)
        started = time.perf_counter()
        try:
            response = await self._client.post(self._completions_url, json=payload)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, mid_stream=False) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if not response.is_success:
            raise self._status_error(response)
        completion = self._parse_completion(response.content)
        choice = completion.choices[0]
        tool_calls = [
            ToolCall(
                # A server that omits ids still needs one to pair the tool results with.
                id=call.id or f"call_{index}",
                name=call.function.name,
                arguments=call.function.arguments,
            )
            for index, call in enumerate(choice.message.tool_calls or [])
        ]
        # A non-streamed body is whole even when a server leaves finish_reason out.
        finish_reason = _finish_reason(choice.finish_reason or "stop", bool(tool_calls))
        if finish_reason is None:
            raise ProviderUnavailable(
                f"{self.name}: the answer ended with finish_reason {choice.finish_reason!r:.40}"
            )
        usage = completion.usage.to_usage() if completion.usage else Usage()
        return ChatResponse(
            provider=self.name,
            model=target.model,
            text=choice.message.content or "",
            finish_reason=finish_reason,
            usage=usage,
            cost_usd=cost_usd(self.pricing_kind, target.model, usage),
            latency_ms=latency_ms,
            tool_calls=tool_calls,
        )

    def _parse_completion(self, body: bytes) -> _WireCompletion:
        parsed = _parse_wire(_WireCompletion, body)
        if isinstance(parsed, str):
            raise ProviderMalformedResponse(
                f"{self.name}: HTTP 200 body is not a chat completion ({parsed})"
            )
        if not parsed.choices:
            raise ProviderMalformedResponse(f"{self.name}: chat completion without choices")
        return parsed

    # --- stream ---

    async def stream(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> AsyncIterator[StreamChunk]:
        payload = request_to_wire(target.model, chat, stream=True)
        streaming = False
        try:
            async with self._client.stream("POST", self._completions_url, json=payload) as response:
                if not response.is_success:
                    await response.aread()
                    raise self._status_error(response)
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    raise ProviderMalformedResponse(
                        f"{self.name}: stream answered with content-type {content_type[:80]!r}, "
                        "not text/event-stream"
                    )
                streaming = True
                async for chunk in self._stream_chunks(response):
                    yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, mid_stream=streaming) from exc

    async def _stream_chunks(self, response: httpx.Response) -> AsyncIterator[StreamChunk]:
        finish_reason: str | None = None
        usage: Usage | None = None
        saw_tool_calls = False
        async for data in _sse_data(response):
            if data == "[DONE]":
                if finish_reason is None:
                    raise ProviderStreamInterrupted(
                        f"{self.name}: stream ended with [DONE] but no finish_reason"
                    )
                finished = _finish_reason(finish_reason, saw_tool_calls)
                if finished is None:
                    raise ProviderStreamInterrupted(
                        f"{self.name}: stream ended with finish_reason {finish_reason!r:.40}"
                    )
                # Held back to here because, with include_usage, usage comes in its own chunk
                # after the finish_reason one. It stays None if the server never reported it.
                yield StreamChunk(finish_reason=finished, usage=usage)
                return
            event = self._parse_stream_event(data)
            if event.usage is not None:
                usage = event.usage.to_usage()
            if not event.choices:
                continue
            choice = event.choices[0]
            deltas = [
                ToolCallDelta(
                    # Some servers leave index out when they send each call whole.
                    index=position if delta.index is None else delta.index,
                    id=delta.id,
                    name=delta.function.name if delta.function else None,
                    arguments=(delta.function.arguments or "") if delta.function else "",
                )
                for position, delta in enumerate(choice.delta.tool_calls or [])
            ]
            saw_tool_calls = saw_tool_calls or bool(deltas)
            if choice.delta.content or deltas:
                yield StreamChunk(text=choice.delta.content or "", tool_calls=deltas)
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
        raise ProviderStreamInterrupted(
            f"{self.name}: stream closed before [DONE]"
            + (" and before a finish_reason" if finish_reason is None else "")
        )

    def _parse_stream_event(self, data: str) -> _WireStreamChunk:
        raw = _json_or_none(data.encode())
        if raw is None:
            raise ProviderMalformedResponse(
                f"{self.name}: stream event is not JSON ({len(data)} characters)"
            )
        if isinstance(raw, dict) and "error" in raw:
            # OpenAI reports failures after the 200 as an error event in the stream.
            raise self._error_from_fields(None, *_provider_error_fields(raw), headers={})
        parsed = _parse_wire(_WireStreamChunk, raw)
        if isinstance(parsed, str):
            raise ProviderMalformedResponse(
                f"{self.name}: stream event is not a chat completion chunk ({parsed})"
            )
        return parsed

    # --- errors ---

    def _transport_error(self, exc: httpx.HTTPError, *, mid_stream: bool) -> ProviderError:
        detail = f"{type(exc).__name__}: {str(exc)[:PROVIDER_MESSAGE_LIMIT]}"
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ProviderBadRequest(f"{self.name}: {detail}")
        if isinstance(exc, httpx.DecodingError):
            return ProviderMalformedResponse(f"{self.name}: undecodable body ({detail})")
        if mid_stream:
            return ProviderStreamInterrupted(f"{self.name}: stream broke off ({detail})")
        if isinstance(exc, httpx.TimeoutException):
            return ProviderUnavailable(f"{self.name}: timed out after {self.timeout}s ({detail})")
        return ProviderUnavailable(f"{self.name}: {detail}")

    def _status_error(self, response: httpx.Response) -> ProviderError:
        return self._error_from_fields(
            response.status_code,
            *_provider_error_fields(_json_or_none(response.content)),
            headers=response.headers,
        )

    def _error_from_fields(
        self,
        status: int | None,
        error_type: str | None,
        code: str | None,
        message: str,
        *,
        headers: Mapping[str, str],
    ) -> ProviderError:
        """The ProviderError for a failure the provider reported: an HTTP status with an error
        body, or (status None) an error event inside a stream that had already started."""
        described = " ".join(
            part
            for part in (
                f"HTTP {status}" if status is not None else "stream error",
                error_type,
                f"({code})" if code else None,
            )
            if part
        )
        text = f"{self.name}: {described}"
        if message:
            text += f": {message[:PROVIDER_MESSAGE_LIMIT]}"
        kinds = {error_type, code}
        # Only a refusal of the request itself can be about its size or content; a 5xx that
        # happens to mention them is still the provider failing.
        refused = status is None or 400 <= status < 500

        if refused and (kinds & _CONTEXT_CODES or _CONTEXT_MESSAGE.search(message)):
            return ContextWindowExceeded(text)
        if refused and (kinds & _POLICY_CODES or _POLICY_MESSAGE.search(message)):
            return ContentPolicyRefusal(text)
        if refused and "model_not_found" in kinds:
            return UnknownModel(text)
        if refused and "insufficient_quota" in kinds:
            # OpenAI sends this as a 429, but waiting does not refill a billing quota: retrying
            # would only delay the route's fallback, so it is refused like bad credentials.
            return ProviderAuthError(text)
        if status is None:
            if "rate_limit_exceeded" in kinds:
                return ProviderRateLimited(text)
            return ProviderStreamInterrupted(text)
        if status == 429:
            return ProviderRateLimited(
                text, retry_after_seconds=retry_after_seconds(headers, rate_limited=True)
            )
        if status in (401, 403):
            return ProviderAuthError(text)
        if status == 404 and "model" in message.lower():
            # A 404 without a model in its message is more likely a wrong base_url path.
            return UnknownModel(text)
        if status in (408, 409) or status >= 500:
            # 408/409 are transient (request timeout, lock contention); the OpenAI SDK retries
            # them too.
            return ProviderUnavailable(
                text, retry_after_seconds=retry_after_seconds(headers, rate_limited=False)
            )
        return ProviderBadRequest(text)
