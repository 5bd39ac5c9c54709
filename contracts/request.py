"""Input and result of one request workflow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatRequest, ChatResponse
from contracts.routing import RouteTarget

ErrorType = Literal[
    "invalid_request_error",
    "provider_error",
    "rate_limit_error",
    "timeout",
    "internal_error",
]


class RequestInput(BaseModel):
    request_id: str
    tenant_id: str
    model: str
    chat: ChatRequest
    provider_task_queue: str = Field(
        "interlock-providers", description="Task queue of the workers that call providers."
    )


class RequestError(BaseModel):
    type: ErrorType
    message: str
    http_status: int
    code: str | None = None


class RequestResult(BaseModel):
    request_id: str
    route: str
    target: RouteTarget | None = None
    response: ChatResponse | None = None
    error: RequestError | None = None


class ProviderCallInput(BaseModel):
    request_id: str
    target: RouteTarget
    chat: ChatRequest
