"""OpenAI-style error objects, and the handlers that make every failure one of them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a person to read.")
    type: str = Field(description="Error family: invalid_request_error, provider_error, ...")
    param: str | None = Field(description="The request field at fault, dotted ('messages.0.role').")
    code: str | None = Field(description="Machine-readable reason: invalid_value, ...")


class ErrorResponse(BaseModel):
    """The body of every error answer, as OpenAI shapes it."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the client should see, with the HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_response(error: ApiError) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorDetail(
            message=error.message, type=error.type, param=error.param, code=error.code
        )
    )
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


# Every status the OpenAI endpoints answer with besides 200, for their OpenAPI documentation.
ERROR_STATUSES: dict[int, str] = {
    400: "Invalid request: unreadable JSON, a value out of range, an unsupported parameter, "
    "more messages or tools than allowed, nesting deeper than allowed",
    401: "Missing or invalid API key",
    403: "The API key lacks the scope the endpoint needs (insufficient_scope)",
    404: "Unknown model or route",
    413: "Request body larger than INTERLOCK_MAX_BODY_BYTES, or too large for a workflow payload",
    415: "Request body sent with a Content-Type other than JSON",
    431: "Request headers larger than INTERLOCK_MAX_HEADER_BYTES",
    429: "The API key's rate limit is spent (rate_limit_exceeded, with Retry-After), the "
    "provider is rate limiting, or the tenant's budget cannot cover the request",
    500: "A fault inside the gateway",
    502: "The provider failed after its retries and fallbacks",
    503: "Temporal, or a guardrail the route requires, is unavailable",
    504: "The request did not finish in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all in the OpenAI error shape.

    The 4XX range stands for any other client error (405, ...) and keeps FastAPI from
    documenting its own 422, which the validation handler turns into a 400.
    """
    documented: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorResponse, "description": ERROR_STATUSES[status]}
        for status in statuses
    }
    documented["4XX"] = {"model": ErrorResponse, "description": "Any other client error"}
    return documented


def validation_error(exc: RequestValidationError) -> ApiError:
    """The first of pydantic's complaints about a request, as an OpenAI error."""
    first = exc.errors()[0]
    kind, location = first["type"], tuple(first["loc"])
    if kind == "json_invalid":
        reason = first.get("ctx", {}).get("error", "unreadable")
        return ApiError(400, f"the request body is not valid JSON: {reason}", code="invalid_json")
    if location == ("body",):
        if kind == "missing":
            return ApiError(
                400, "the request body is empty; send a JSON object", code="invalid_json"
            )
        if isinstance(first.get("input"), bytes):
            # FastAPI parses JSON only when the Content-Type says JSON (or is absent).
            return ApiError(
                415,
                "send the request body as JSON, with 'Content-Type: application/json'",
                code="unsupported_media_type",
            )
        if kind == "value_error":
            # A rule across fields (a model validator): its message says what is wrong.
            message = str(first["msg"]).removeprefix("Value error, ")
            return ApiError(400, message, code="invalid_value")
        return ApiError(400, "the request body must be a JSON object", code="invalid_request")
    # pydantic's locations start with where the value was: body, query, header, path.
    path = location[1:] if location[0] == "body" else location
    param = ".".join(str(part) for part in path)
    return ApiError(
        400, f"invalid value for '{param}': {first['msg']}", param=param, code="invalid_value"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI raises a bare 400 only when it cannot decode a body it tried to read as JSON.
        code = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code
        )
        return error_response(ApiError(exc.status_code, str(exc.detail), code=code))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log it with its traceback, answer without internals.
        log.exception("unhandled error in the gateway")
        return error_response(
            ApiError(
                500, "internal error in the gateway", type="server_error", code="internal_error"
            )
        )
