"""API key authentication: Bearer token (OpenAI style) or x-api-key.

Both are declared as FastAPI security schemes, so /openapi.json tells clients (and fuzzers) how to
authenticate; the key itself is checked against its digest in the store.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gateway.errors import ApiError
from gateway.request_flow import GatewayState
from store.tenants import hash_api_key, tenant_for_digest

_bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKeyBearer", description="Authorization: Bearer <API key>"
)
_api_key_header = APIKeyHeader(
    name="x-api-key", auto_error=False, scheme_name="ApiKeyHeader", description="The API key"
)


async def _tenant(state: GatewayState, digest: str) -> str | None:
    """The key's tenant; keys seen in the last second skip the database and the thread hop (a
    revoked key or a disabled tenant is refused at most a second later)."""
    known = state.known_keys.get(digest, lambda _digest: None)
    if known is not None:
        return known
    return await asyncio.to_thread(
        state.known_keys.get, digest, lambda d: tenant_for_digest(state.engine, d)
    )


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})


async def authenticated_tenant(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key_header)],
) -> str:
    """The tenant whose API key the request carries; a 401 if it carries none or a wrong one."""
    key = bearer.credentials if bearer is not None else (api_key or "").strip()
    if not key:
        raise _unauthorized(
            "no API key provided: send 'Authorization: Bearer <key>'", "missing_api_key"
        )
    tenant = await _tenant(request.app.state.gateway, hash_api_key(key))
    if tenant is None:
        raise _unauthorized("invalid API key", "invalid_api_key")
    return tenant
