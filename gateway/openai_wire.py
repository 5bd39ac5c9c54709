"""The OpenAI chat-completions wire format, and its translation to and from Interlock's contract."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.chat import ChatMessage, ChatRequest, SamplingParams
from contracts.request import RequestResult
from gateway.errors import ApiError


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI parameters are tolerated (clients send many); ones that would change the
    # answer and that Interlock cannot honour yet are refused below rather than ignored.
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[WireMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    n: int = Field(1, ge=1)
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value


UNSUPPORTED = {
    "tools": "tool calling",
    "functions": "function calling",
    "tool_choice": "tool calling",
    "response_format": "structured output",
    "logprobs": "log probabilities",
}


def parse_chat_request(raw: Any) -> ChatCompletionRequest:
    if not isinstance(raw, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_request")
    try:
        parsed = ChatCompletionRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(
            400, f"invalid value for '{param}': {first['msg']}", param=param, code="invalid_value"
        ) from None
    if parsed.stream:
        raise ApiError(
            400,
            "streaming is not supported yet; send stream=false",
            param="stream",
            code="unsupported_parameter",
        )
    if parsed.n != 1:
        raise ApiError(400, "only n=1 is supported", param="n", code="unsupported_parameter")
    for field, feature in UNSUPPORTED.items():
        if raw.get(field) not in (None, False):
            raise ApiError(
                400,
                f"{feature} ('{field}') is not supported yet",
                param=field,
                code="unsupported_parameter",
            )
    return parsed


def to_chat_request(wire: ChatCompletionRequest) -> ChatRequest:
    stop = [wire.stop] if isinstance(wire.stop, str) else (wire.stop or [])
    return ChatRequest(
        messages=[ChatMessage(role=m.role, content=m.text(), name=m.name) for m in wire.messages],
        params=SamplingParams(
            temperature=wire.temperature,
            top_p=wire.top_p,
            max_tokens=wire.max_completion_tokens or wire.max_tokens,
            stop=stop,
            seed=wire.seed,
        ),
    )


def to_chat_completion(result: RequestResult) -> dict[str, Any]:
    response = result.response
    assert response is not None
    return {
        "id": result.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{response.provider}/{response.model}",
        "choices": [
            {
                "index": 0,
                # A filtered answer has no content, as OpenAI reports it.
                "message": {
                    "role": "assistant",
                    "content": None
                    if response.finish_reason == "content_filter"
                    else response.text,
                },
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": response.usage.input_tokens,
            "completion_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
        "system_fingerprint": None,
    }
