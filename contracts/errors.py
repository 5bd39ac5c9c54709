"""How a request failed, in the terms its client gets: an OpenAI error type and an HTTP status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

ErrorType = Literal[
    "invalid_request_error",
    "provider_error",
    "rate_limit_error",
    "timeout",
    "service_unavailable",
    "internal_error",
    "client_closed",
]


class RequestError(BaseModel):
    type: ErrorType
    message: str
    http_status: int
    code: str | None = None
