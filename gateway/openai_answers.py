"""The OpenAI answers: a chat completion, the chunks of a streamed one, the model list.

They are built from a request's result and documented in /openapi.json.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field, model_serializer
from pydantic.json_schema import models_json_schema

from contracts.chat import ChatResponse, FinishReason
from contracts.request import RequestResult
from gateway.openai_wire import WireFunctionCall, WireToolCall, pack_tool_call_id


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = Field(
        description="The answer; null when the answer only calls tools or was filtered."
    )
    tool_calls: list[WireToolCall] | None = Field(
        None, description="Present only when the answer calls tools."
    )

    # No return annotation on purpose: with one, pydantic documents the serializer's return type
    # instead of this model's fields.
    @model_serializer(mode="wrap")
    def _without_absent_tool_calls(self, handler: Any):  # type: ignore[no-untyped-def]
        # OpenAI leaves tool_calls out of a plain answer, while content stays, as null if need be.
        data = handler(self)
        if data.get("tool_calls") is None:
            data.pop("tool_calls", None)
        return data


class CompletionChoice(BaseModel):
    index: int
    message: CompletionMessage
    logprobs: None = None
    finish_reason: FinishReason


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A whole answer: the 200 response of POST /v1/chat/completions without `stream`."""

    id: str = Field(description="The request id; also the id of its Temporal workflow.")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The model that answered, as 'provider/model'.")
    choices: list[CompletionChoice]
    usage: CompletionUsage
    system_fingerprint: str | None = None


class ChunkFunction(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ChunkToolCall(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ChunkFunction


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ChunkToolCall] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (`data: {chunk}`); the stream ends with
    `data: [DONE]`. A failure after the first chunk arrives as `data: {"error": {...}}`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class ModelCard(BaseModel):
    id: str = Field(description="A route name, or provider/model, to send as `model`.")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "interlock"
    kind: Literal["route", "model"] = "route"
    variants: list[str] = Field(
        default_factory=list, description="A route's variants, as provider/model."
    )
    capabilities: dict[str, Any] = Field(
        default_factory=dict,
        description="tools and streaming (every adapter has both), the context window where "
        "known (a route's smallest), prices per million tokens for a model, a route's cache "
        "and routing policy.",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# The 200 response of POST /v1/chat/completions in both of its forms, for the OpenAPI document.
# The stream's events follow OpenAPI 3.2's `itemSchema`, the form FastAPI itself uses for SSE.
CHAT_COMPLETION_200: dict[str, Any] = {
    "model": ChatCompletion,
    "description": "The answer: JSON, or with `stream: true` a text/event-stream of chunks.",
    "content": {
        "text/event-stream": {
            "schema": {"type": "string"},
            "itemSchema": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "data": {
                        "type": "string",
                        "description": "A chat.completion.chunk as JSON, an error object, "
                        "or [DONE] at the end.",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ChatCompletionChunk"},
                                {"$ref": "#/components/schemas/ErrorResponse"},
                            ]
                        },
                    }
                },
            },
        }
    },
}


def add_stream_chunk_schemas(document: dict[str, Any]) -> None:
    """Puts ChatCompletionChunk, which the stream's itemSchema names, into an OpenAPI document:
    FastAPI adds only the models its routes declare."""
    _, definitions = models_json_schema(
        [(ChatCompletionChunk, "serialization")], ref_template="#/components/schemas/{model}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])


def to_chat_completion(result: RequestResult) -> ChatCompletion:
    response = result.response
    assert response is not None
    return ChatCompletion(
        id=result.request_id,
        created=int(time.time()),
        model=f"{response.provider}/{response.model}",
        choices=[
            CompletionChoice(
                index=0,
                message=_assistant_message(response),
                finish_reason=response.finish_reason,
            )
        ],
        usage=CompletionUsage(
            prompt_tokens=response.usage.input_tokens,
            completion_tokens=response.usage.output_tokens,
            total_tokens=response.usage.total_tokens,
        ),
    )


def _assistant_message(response: ChatResponse) -> CompletionMessage:
    # A filtered answer, or one that only calls tools, has no content, as OpenAI reports it.
    no_text = response.finish_reason == "content_filter" or (
        response.tool_calls and not response.text
    )
    return CompletionMessage(
        content=None if no_text else response.text,
        tool_calls=[
            WireToolCall(
                id=pack_tool_call_id(call.id, call.provider_state),
                function=WireFunctionCall(name=call.name, arguments=call.arguments),
            )
            for call in response.tool_calls
        ]
        or None,
    )
