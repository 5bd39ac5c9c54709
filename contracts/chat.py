"""The normalized chat contract every provider adapter speaks.

Provider-specific fields that must survive a round trip (Gemini thought signatures, Bedrock
toolUse ids, Anthropic content blocks) travel in `provider_state`, opaque to everything but the
adapter that wrote them, so a conversation with tool calls can be continued on the same provider.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: str = Field("{}", description="JSON text of the arguments, as OpenAI sends it.")
    provider_state: dict[str, Any] = Field(default_factory=dict)


class ToolSpec(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments.",
    )


class ChatMessage(BaseModel):
    role: Role
    content: str = ""
    name: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list, description="Assistant messages.")
    tool_call_id: str | None = Field(None, description="Tool messages: the call they answer.")
    provider_state: dict[str, Any] = Field(default_factory=dict)


class SamplingParams(BaseModel):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None


class ResponseFormat(BaseModel):
    """The answer must be JSON: any object (`json_object`), or one that matches `schema`."""

    type: Literal["json_object", "json_schema"]
    name: str | None = Field(None, description="json_schema: the schema's name.")
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(None, description="json_schema: the JSON Schema.")
    strict: bool | None = None

    def schema_or_object(self) -> dict[str, Any]:
        """The schema the answer is held to; `json_object` asks for any object."""
        return self.json_schema if self.json_schema is not None else {"type": "object"}


class ChatRequest(BaseModel):
    messages: list[ChatMessage] = Field(min_length=1)
    params: SamplingParams = Field(default_factory=SamplingParams)
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] | str | None = Field(
        None, description="'auto', 'none', 'required', or the name of one tool to call."
    )
    response_format: ResponseFormat | None = Field(
        None, description="Structured output; None for free text."
    )


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatResponse(BaseModel):
    provider: str
    model: str
    text: str
    finish_reason: FinishReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    quality_score: float | None = Field(
        None, description="A judged quality in [0, 1] where the provider can supply one."
    )
    tool_calls: list[ToolCall] = Field(default_factory=list)
    provider_state: dict[str, Any] = Field(
        default_factory=dict, description="Carried onto the assistant message when continued."
    )


class ToolCallDelta(BaseModel):
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    provider_state: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def whole(cls, index: int, call: ToolCall) -> ToolCallDelta:
        """A complete tool call as one delta (for streams that send each call whole)."""
        return cls(
            index=index,
            id=call.id,
            name=call.name,
            arguments=call.arguments,
            provider_state=call.provider_state,
        )


class StreamChunk(BaseModel):
    """One piece of a streamed answer. The last chunk carries finish_reason and usage."""

    text: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    provider_state: dict[str, Any] = Field(
        default_factory=dict, description="On the final chunk: as ChatResponse.provider_state."
    )
    cost_usd: float | None = Field(None, description="On the final chunk, where known.")
