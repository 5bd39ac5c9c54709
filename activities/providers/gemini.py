"""Google Gemini through the google-genai SDK: the Gemini Developer API, or Vertex AI.

Gemini function calls carry no id and may carry a `thought_signature`, opaque bytes the API
insists on getting back, on the same `functionCall` part, when the conversation continues. So a
tool call's id is derived from the call itself (the same response always yields the same ids,
which keeps Temporal replays and retries consistent), its signature travels base64-encoded in
`ToolCall.provider_state`, and the model turn's raw parts travel in
`ChatResponse.provider_state`, all under the "gemini" key. Continuing a conversation replays the
raw parts when they still match the assistant message, or else rebuilds the parts from the
message and its tool calls' signatures.

The SDK's own retries are off: Temporal owns retries, and each failure is raised as a
ProviderError subclass that says whether a retry can help. Error messages carry status codes
and the provider's wording with quoted values removed, never prompt text.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from contracts.routing import RouteTarget

STATE_KEY = "gemini"
ROUTE_OPTIONS = frozenset({"safety_settings"})
DEVELOPER_API_VERSION = "v1beta"  # function-call thought signatures and JSON-schema tools

_CONTENT_FILTER_REASONS = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.SPII,
        types.FinishReason.RECITATION,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.MODEL_ARMOR,
    }
)
_TOKEN_LIMIT_MESSAGE = re.compile(
    r"input token count|token count exceeds|exceeds the maximum number of tokens|"
    r"too many tokens|context (window|length)",
    re.IGNORECASE,
)
_INVALID_KEY_MESSAGE = re.compile(r"api key not valid|api_key_invalid", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _transport_errors() -> tuple[type[BaseException], ...]:
    # The SDK sends through httpx2, httpx or aiohttp depending on what is installed; a timeout
    # or dropped connection from any of them means the provider could not be reached.
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for module_name, class_name in (
        ("httpx", "TransportError"),
        ("httpx2", "TransportError"),
        ("aiohttp", "ClientError"),
    ):
        with contextlib.suppress(ImportError):
            found.append(getattr(importlib.import_module(module_name), class_name))
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
# What the SDK raises when a 200 body is not a GenerateContentResponse: JSON that does not
# parse, or parses into shapes its converters and models cannot take.
UNREADABLE_BODY_ERRORS = (
    json.JSONDecodeError,
    genai_errors.UnknownApiResponseError,
    pydantic.ValidationError,
    TypeError,
    AttributeError,
    KeyError,
)


# --- options ---


def parse_safety_settings(raw: object) -> list[types.SafetySetting]:
    """Validated safety settings; ValueError names the first bad entry.

    The SDK only warns about an unknown category or threshold, and the API would reject it
    later, so the names are checked against the SDK's enums here.
    """
    if not isinstance(raw, list):
        raise ValueError("safety_settings must be a list of {category, threshold} objects")
    allowed = {
        "category": {m.value for m in types.HarmCategory},
        "threshold": {m.value for m in types.HarmBlockThreshold},
        "method": {m.value for m in types.HarmBlockMethod},
    }
    settings: list[types.SafetySetting] = []
    for position, entry in enumerate(raw):
        if not isinstance(entry, dict) or not {"category", "threshold"} <= entry.keys():
            raise ValueError(f"safety_settings[{position}] needs a category and a threshold")
        for key, value in entry.items():
            if key not in allowed:
                raise ValueError(f"safety_settings[{position}] has an unknown field {key!r}")
            if not isinstance(value, str) or value.upper() not in allowed[key]:
                raise ValueError(f"safety_settings[{position}].{key} {value!r} is not known")
        settings.append(
            types.SafetySetting.model_validate({k: v.upper() for k, v in entry.items()})
        )
    return settings


# --- request mapping ---


def _state(holder: dict[str, Any]) -> dict[str, Any]:
    state = holder.get(STATE_KEY)
    return state if isinstance(state, dict) else {}


def _call_arguments(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise ProviderBadRequest(f"tool call {call.id!r} arguments are not a JSON object")
    return arguments


def _signature_bytes(state: dict[str, Any]) -> bytes | None:
    encoded = state.get("thought_signature")
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise ProviderBadRequest("a tool call's gemini thought signature is not base64") from exc


def _function_call_part(call: ToolCall) -> types.Part:
    state = _state(call.provider_state)
    return types.Part(
        function_call=types.FunctionCall(
            id=call.id if state.get("native_id") else None,
            name=call.name,
            args=_call_arguments(call),
        ),
        thought_signature=_signature_bytes(state),
    )


def _recorded_parts(message: ChatMessage) -> list[types.Part] | None:
    """The model turn exactly as Gemini sent it, if the message still says the same thing.

    Replaying the raw parts keeps every signature (including those on text parts); a message
    edited since, or one whose state is unreadable, is rebuilt from its content instead.
    """
    raw = _state(message.provider_state).get("parts")
    if not isinstance(raw, list) or not raw:
        return None
    try:
        parts = [types.Part.model_validate_json(json.dumps(p)) for p in raw]
    except (pydantic.ValidationError, TypeError, ValueError):
        return None
    text = "".join(p.text for p in parts if p.text and not p.thought)
    calls = [(p.function_call.name, p.function_call.args or {}) for p in parts if p.function_call]
    try:
        expected = [(c.name, json.loads(c.arguments or "{}")) for c in message.tool_calls]
    except ValueError:
        return None
    if text != message.content or calls != expected:
        return None
    return parts


def _model_parts(message: ChatMessage) -> list[types.Part]:
    recorded = _recorded_parts(message)
    if recorded is not None:
        return recorded
    parts = [types.Part(text=message.content)] if message.content else []
    parts.extend(_function_call_part(call) for call in message.tool_calls)
    return parts


def _tool_result(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


@dataclass
class _CalledTool:
    name: str
    native_id: bool


@dataclass
class GeminiRequest:
    system_instruction: str | None
    contents: list[types.Content] = field(default_factory=list)


def map_messages(messages: Iterable[ChatMessage]) -> GeminiRequest:
    """Messages as Gemini contents: system text apart, tool results as function responses."""
    system: list[str] = []
    contents: list[types.Content] = []
    calls: dict[str, _CalledTool] = {}
    for message in messages:
        if message.role in ("system", "developer"):
            if message.content:
                system.append(message.content)
        elif message.role == "user":
            contents.append(types.Content(role="user", parts=[types.Part(text=message.content)]))
        elif message.role == "assistant":
            for call in message.tool_calls:
                native = bool(_state(call.provider_state).get("native_id"))
                calls[call.id] = _CalledTool(call.name, native)
            parts = _model_parts(message)
            # Gemini rejects a content with no parts; an empty assistant turn says nothing.
            if parts:
                contents.append(types.Content(role="model", parts=parts))
        else:
            called = calls.get(message.tool_call_id or "")
            name = called.name if called else message.name
            if not name:
                raise ProviderBadRequest(
                    f"tool message answers unknown tool call {message.tool_call_id!r}"
                )
            part = types.Part(
                function_response=types.FunctionResponse(
                    id=message.tool_call_id if called and called.native_id else None,
                    name=name,
                    response={"result": _tool_result(message.content)},
                )
            )
            previous = contents[-1] if contents else None
            # Answers to parallel calls belong in one user turn, as Gemini expects them.
            if previous and previous.role == "user" and _only_function_responses(previous):
                previous.parts = [*(previous.parts or []), part]
            else:
                contents.append(types.Content(role="user", parts=[part]))
    return GeminiRequest("\n\n".join(system) or None, contents)


def _only_function_responses(content: types.Content) -> bool:
    return bool(content.parts) and all(p.function_response for p in content.parts or [])


def _function_declaration(spec: ToolSpec) -> types.FunctionDeclaration:
    # parameters_json_schema passes the JSON Schema through as written, where `parameters`
    # would squeeze it into Gemini's OpenAPI subset and drop what does not fit.
    return types.FunctionDeclaration(
        name=spec.name,
        description=spec.description or None,
        parameters_json_schema=spec.parameters,
    )


def _tool_config(chat: ChatRequest) -> types.ToolConfig | None:
    choice = chat.tool_choice
    if choice is None:
        return None
    names = [t.name for t in chat.tools]
    if choice == "auto":
        mode, allowed = types.FunctionCallingConfigMode.AUTO, None
    elif choice == "none":
        mode, allowed = types.FunctionCallingConfigMode.NONE, None
    elif choice == "required":
        if not names:
            raise ProviderBadRequest("tool_choice 'required' needs at least one tool")
        mode, allowed = types.FunctionCallingConfigMode.ANY, None
    elif choice in names:
        mode, allowed = types.FunctionCallingConfigMode.ANY, [choice]
    else:
        raise ProviderBadRequest(f"tool_choice names {choice!r}, which is not among the tools")
    if not names:
        return None
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=mode, allowed_function_names=allowed
        )
    )


# --- response mapping ---


def _tool_call_id(index: int, call: types.FunctionCall, signature: bytes | None) -> str:
    material = json.dumps(
        [index, call.name, call.args or {}, base64.b64encode(signature or b"").decode()],
        sort_keys=True,
    )
    return "call_" + hashlib.sha256(material.encode()).hexdigest()[:24]


def _tool_call(index: int, call: types.FunctionCall, signature: bytes | None) -> ToolCall:
    state: dict[str, Any] = {}
    if signature:
        state["thought_signature"] = base64.b64encode(signature).decode()
    if call.id:
        state["native_id"] = True
    return ToolCall(
        id=call.id or _tool_call_id(index, call, signature),
        name=call.name or "",
        arguments=json.dumps(call.args or {}),
        provider_state={STATE_KEY: state} if state else {},
    )


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if metadata is None:
        return Usage()
    # Thinking tokens are billed as output; tool-use prompt tokens as input.
    return Usage(
        input_tokens=(metadata.prompt_token_count or 0)
        + (metadata.tool_use_prompt_token_count or 0),
        output_tokens=(metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0),
    )


def _finish_reason(reason: types.FinishReason | None, called_tools: bool) -> FinishReason:
    if reason in _CONTENT_FILTER_REASONS:
        return "content_filter"
    if reason == types.FinishReason.MALFORMED_FUNCTION_CALL:
        # The model's output was unusable; sampling again may well produce a valid call.
        raise ProviderMalformedResponse("gemini produced a malformed function call")
    if called_tools:
        return "tool_calls"
    if reason == types.FinishReason.MAX_TOKENS:
        return "length"
    return "stop"


def _refuse_blocked_prompt(response: types.GenerateContentResponse, model: str) -> None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        raise ContentPolicyRefusal(f"gemini {model} blocked the prompt: {reason}")


def _structured_output(chat: ChatRequest) -> dict[str, Any]:
    if chat.response_format is None:
        return {}
    # Without a schema (json_object) the answer is held to JSON of any shape.
    return {
        "response_mime_type": "application/json",
        "response_json_schema": chat.response_format.json_schema,
    }


def _pricing_model(model: str) -> str:
    return model.removeprefix("models/")


# --- errors ---


def _safe_message(message: str | None) -> str:
    # Provider messages can quote request values (prompt text among them); keep the wording
    # and field paths, drop the quoted values.
    if not message:
        return ""
    cleaned = _QUOTED.sub("<redacted>", message)
    return cleaned if len(cleaned) <= 300 else cleaned[:297] + "..."


def _error_details(exc: genai_errors.APIError) -> list[dict[str, Any]]:
    body = exc.details
    if isinstance(body, dict):
        body = body.get("error", body)
    details = body.get("details") if isinstance(body, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _duration_seconds(value: object) -> float | None:
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def retry_after_seconds(exc: genai_errors.APIError) -> float | None:
    """The delay the API asked for: RetryInfo in the error details, else Retry-After."""
    for detail in _error_details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            seconds = _duration_seconds(detail.get("retryDelay"))
            if seconds is not None:
                return seconds
    headers = getattr(exc.response, "headers", None)
    return parse_retry_after(headers.get("retry-after") if headers is not None else None)


def _invalid_key(exc: genai_errors.APIError) -> bool:
    # The Developer API answers a wrong key with 400 INVALID_ARGUMENT, not 401.
    reasons = {str(d.get("reason", "")) for d in _error_details(exc)}
    return "API_KEY_INVALID" in reasons or bool(_INVALID_KEY_MESSAGE.search(exc.message or ""))


def map_api_error(exc: genai_errors.APIError, model: str) -> ProviderError:
    code = exc.code or 0
    summary = f"gemini {model}: HTTP {code} {exc.status or ''}: {_safe_message(exc.message)}"
    if code == 429:
        return ProviderRateLimited(summary, retry_after_seconds=retry_after_seconds(exc))
    if code in (401, 403) or (code == 400 and _invalid_key(exc)):
        return ProviderAuthError(summary)
    if code == 404:
        return UnknownModel(summary)
    if code == 400 and _TOKEN_LIMIT_MESSAGE.search(exc.message or ""):
        return ContextWindowExceeded(summary)
    # 408 (request timeout) and 499 (cancelled upstream) say nothing about the request itself.
    if code >= 500 or code in (408, 499):
        return ProviderUnavailable(summary, retry_after_seconds=retry_after_seconds(exc))
    return ProviderBadRequest(summary)


def _sdk_refusal(exc: ValueError, model: str) -> ProviderBadRequest:
    # Any other ValueError is the SDK refusing to build the request: the same call would fail
    # the same way.
    return ProviderBadRequest(
        f"gemini {model}: the SDK refused the request: {_safe_message(str(exc))}"
    )


# --- the provider ---


class GeminiProvider:
    def __init__(
        self,
        name: str = "gemini",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        vertexai: bool = False,
        project: str | None = None,
        location: str | None = None,
        models: list[str] | None = None,
        safety_settings: list[dict] | None = None,
        timeout_ms: int = 120000,
    ) -> None:
        self.name = name
        self.api_key = api_key
        self.base_url = base_url
        self.vertexai = vertexai
        self.project = project
        self.location = location
        self.models = list(models) if models is not None else None
        # A bad default is a configuration error: fail at start-up, not on every call.
        self.safety_settings = (
            parse_safety_settings(safety_settings) if safety_settings is not None else None
        )
        self.timeout_ms = timeout_ms
        self._client: genai.Client | None = None

    # The client is built on first use: building one for Vertex AI may look up Google
    # credentials, which must not happen merely because the provider is registered.
    def client(self) -> genai.Client:
        if self._client is None:
            http_options = types.HttpOptions(
                base_url=self.base_url,
                api_version=None if self.vertexai else DEVELOPER_API_VERSION,
                timeout=self.timeout_ms,
                # One attempt: Temporal retries, with backoff and the provider's retry delay.
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            try:
                self._client = genai.Client(
                    api_key=self.api_key,
                    vertexai=self.vertexai,
                    project=self.project,
                    location=self.location,
                    http_options=http_options,
                )
            except ValueError as exc:
                raise ProviderAuthError(f"gemini client not configured: {exc}") from exc
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client.close()
            self._client = None

    def _model_problem(self, model: str) -> str | None:
        if self.models is not None and model not in self.models:
            return f"the {self.name} provider does not serve model {model!r}"
        return None

    @staticmethod
    def _options_problem(options: dict) -> str | None:
        unknown = sorted(set(options) - ROUTE_OPTIONS)
        if unknown:
            return f"unknown gemini options: {', '.join(unknown)}"
        if "safety_settings" in options:
            try:
                parse_safety_settings(options["safety_settings"])
            except ValueError as exc:
                return f"invalid gemini options: {exc}"
        return None

    def prices(self, model: str, options: dict) -> tuple[float, float] | None:
        return price_of("gemini", _pricing_model(model))

    def known_models(self) -> list[str]:
        return sorted(price_table().get("gemini", {}))

    def capabilities(self, model: str, options: dict) -> ModelCapabilities:
        return capabilities_of("gemini", _pricing_model(model))

    def region(self, model: str, options: dict) -> str | None:
        # Vertex AI runs in the location the client names; the Developer API names none.
        return self.location if self.vertexai else None

    def target_problem(self, model: str, options: dict) -> str | None:
        return self._model_problem(model) or self._options_problem(options)

    def _config(
        self, target: RouteTarget, chat: ChatRequest, system: str | None
    ) -> types.GenerateContentConfig:
        model_problem = self._model_problem(target.model)
        if model_problem:
            raise UnknownModel(model_problem)
        options_problem = self._options_problem(target.options)
        if options_problem:
            raise ProviderBadRequest(options_problem)
        safety = (
            parse_safety_settings(target.options["safety_settings"])
            if "safety_settings" in target.options
            else self.safety_settings
        )
        params = chat.params
        tools = (
            [types.Tool(function_declarations=[_function_declaration(t) for t in chat.tools])]
            if chat.tools
            else None
        )
        return types.GenerateContentConfig(
            system_instruction=system,
            temperature=params.temperature,
            top_p=params.top_p,
            max_output_tokens=params.max_tokens,
            stop_sequences=params.stop or None,
            seed=params.seed,
            safety_settings=safety,
            tools=tools,
            tool_config=_tool_config(chat),
            **_structured_output(chat),
            # The caller runs the tools; the SDK must never call back on its own.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    def _prepare(
        self, target: RouteTarget, chat: ChatRequest
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        mapped = map_messages(chat.messages)
        if not mapped.contents:
            raise ProviderBadRequest("gemini needs at least one user or assistant message")
        return mapped.contents, self._config(target, chat, mapped.system_instruction)

    async def complete(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> ChatResponse:
        contents, config = self._prepare(target, chat)
        client = self.client()
        started = time.perf_counter()
        try:
            response = await client.aio.models.generate_content(
                model=target.model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            raise map_api_error(exc, target.model) from exc
        except TRANSPORT_ERRORS as exc:
            raise ProviderUnavailable(
                f"gemini {target.model}: {type(exc).__name__} reaching the API"
            ) from exc
        except UNREADABLE_BODY_ERRORS as exc:
            raise ProviderMalformedResponse(
                f"gemini {target.model} answered with an unreadable body: {type(exc).__name__}"
            ) from exc
        except ValueError as exc:
            raise _sdk_refusal(exc, target.model) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0

        _refuse_blocked_prompt(response, target.model)
        candidate = response.candidates[0] if response.candidates else None
        if candidate is None or (candidate.content is None and candidate.finish_reason is None):
            raise ProviderMalformedResponse(
                f"gemini {target.model} answered without a candidate or prompt feedback"
            )
        parts = (candidate.content.parts if candidate.content else None) or []
        text = "".join(p.text for p in parts if p.text and not p.thought)
        tool_calls = [
            _tool_call(index, part.function_call, part.thought_signature)
            for index, part in enumerate(p for p in parts if p.function_call)
        ]
        usage = _usage(response.usage_metadata)
        state = {"parts": [p.model_dump(mode="json", exclude_none=True) for p in parts]}
        return ChatResponse(
            provider=self.name,
            model=target.model,
            text=text,
            finish_reason=_finish_reason(candidate.finish_reason, bool(tool_calls)),
            usage=usage,
            cost_usd=cost_usd("gemini", _pricing_model(target.model), usage),
            latency_ms=latency_ms,
            tool_calls=tool_calls,
            provider_state={STATE_KEY: state} if parts else {},
        )

    async def stream(
        self, request_id: str, target: RouteTarget, chat: ChatRequest, attempt: int
    ) -> AsyncIterator[StreamChunk]:
        contents, config = self._prepare(target, chat)
        client = self.client()
        model = target.model
        received_any = False
        finish: types.FinishReason | None = None
        usage: Usage | None = None
        tool_count = 0
        try:
            responses = await client.aio.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            async with contextlib.aclosing(responses):  # type: ignore[type-var]
                async for response in responses:
                    received_any = True
                    _refuse_blocked_prompt(response, model)
                    if response.usage_metadata is not None:
                        usage = _usage(response.usage_metadata)
                    if not response.candidates:
                        if response.usage_metadata is None:
                            raise ProviderMalformedResponse(
                                f"gemini {model} streamed an event that is not a response"
                            )
                        continue
                    candidate = response.candidates[0]
                    parts = (candidate.content.parts if candidate.content else None) or []
                    text = "".join(p.text for p in parts if p.text and not p.thought)
                    deltas: list[ToolCallDelta] = []
                    for part in parts:
                        if part.function_call:
                            # Gemini streams each function call whole, so one delta is enough.
                            call = _tool_call(
                                tool_count, part.function_call, part.thought_signature
                            )
                            deltas.append(ToolCallDelta.whole(tool_count, call))
                            tool_count += 1
                    if text or deltas:
                        yield StreamChunk(text=text, tool_calls=deltas)
                    if candidate.finish_reason is not None:
                        finish = candidate.finish_reason
        except genai_errors.APIError as exc:
            raise map_api_error(exc, model) from exc
        except TRANSPORT_ERRORS as exc:
            name = type(exc).__name__
            if received_any:
                raise ProviderStreamInterrupted(
                    f"gemini {model}: stream broke off ({name})"
                ) from exc
            raise ProviderUnavailable(f"gemini {model}: {name} reaching the API") from exc
        except UNREADABLE_BODY_ERRORS as exc:
            raise ProviderMalformedResponse(
                f"gemini {model} streamed an unreadable event: {type(exc).__name__}"
            ) from exc
        except ValueError as exc:
            raise _sdk_refusal(exc, model) from exc
        if finish is None:
            raise ProviderStreamInterrupted(f"gemini {model}: stream ended without a finish reason")
        yield StreamChunk(
            finish_reason=_finish_reason(finish, tool_count > 0), usage=usage or Usage()
        )
