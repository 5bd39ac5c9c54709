"""API key authentication: Bearer token (OpenAI style) or x-api-key."""

from __future__ import annotations

import asyncio

from fastapi import Request
from sqlalchemy.engine import Engine

from gateway.errors import ApiError
from store.tenants import authenticate


def presented_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if key := request.headers.get("x-api-key", "").strip():
        return key
    raise ApiError(
        401,
        "no API key provided: send 'Authorization: Bearer <key>'",
        code="missing_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def tenant_for(request: Request, engine: Engine) -> str:
    key = presented_key(request)
    tenant = await asyncio.to_thread(authenticate, engine, key)
    if tenant is None:
        raise ApiError(
            401, "invalid API key", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
    return tenant
