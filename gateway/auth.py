"""API key authentication: Bearer token (OpenAI style) or x-api-key, then the key's scope and
its rate limit.

Both headers are declared as FastAPI security schemes, so /openapi.json tells clients (and
fuzzers) how to authenticate; the key itself is checked against its digest in the store (see
store/tenants.py on why that lookup leaks nothing by its timing). A key lacking the endpoint's
scope is answered 403 `insufficient_scope`; a key over its rate limit 429 `rate_limit_exceeded`
with Retry-After. Keys without a limit cost no more than the key check itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from gateway.errors import ApiError
from store.rate_limits import Buckets, Draw, open_buckets
from store.short_lived import ShortLived
from store.tenants import ADMIN, INFERENCE, KeyGrant, grant_for_digest, hash_api_key

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKeyBearer", description="Authorization: Bearer <API key>"
)
_api_key_header = APIKeyHeader(
    name="x-api-key", auto_error=False, scheme_name="ApiKeyHeader", description="The API key"
)

# A bucket store that cannot answer lets requests through (as a response cache that cannot
# answer is a miss): a rate limit protects capacity, budgets protect money. Said at most this often.
_UNAVAILABLE_LOG_INTERVAL_SECONDS = 60.0


class ApiKeys:
    """One gateway's key checks: what each key allows, kept a second per digest (a revoked key,
    a changed scope or limit, or a disabled tenant reaches every gateway within that second),
    and the shared buckets of keys with a rate limit."""

    def __init__(self, engine: Engine, buckets: Buckets) -> None:
        self._engine = engine
        self._buckets = buckets
        self.known: ShortLived[str, KeyGrant] = ShortLived()
        self._unavailable_said_at = float("-inf")

    async def grant(self, key: str) -> KeyGrant | None:
        digest = hash_api_key(key)
        # Keys seen in the last second skip the database and the thread hop.
        known = self.known.peek(digest)
        if known is not None:
            return known
        return await asyncio.to_thread(
            self.known.get, digest, lambda d: grant_for_digest(self._engine, d)
        )

    async def draw(self, grant: KeyGrant) -> Draw:
        assert grant.rate_limit is not None
        try:
            return await asyncio.to_thread(self._buckets.draw, grant.digest, grant.rate_limit)
        except Exception as exc:
            now = time.monotonic()
            if now - self._unavailable_said_at >= _UNAVAILABLE_LOG_INTERVAL_SECONDS:
                self._unavailable_said_at = now
                log.warning("rate limits unavailable, letting requests through: %s", exc)
            return Draw(True)


def open_api_keys(redis_url: str | None, engine: Engine) -> ApiKeys:
    return ApiKeys(engine, open_buckets(redis_url, engine))


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})


def tenant_with_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency: the tenant whose API key the request carries, if the key has `scope` and
    is within its rate limit; a 401, 403 or 429 otherwise."""

    async def scoped_tenant(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        api_key: Annotated[str | None, Security(_api_key_header)],
    ) -> str:
        key = bearer.credentials if bearer is not None else (api_key or "").strip()
        if not key:
            raise _unauthorized(
                "no API key provided: send 'Authorization: Bearer <key>'", "missing_api_key"
            )
        keys: ApiKeys = request.app.state.api_keys
        grant = await keys.grant(key)
        if grant is None:
            raise _unauthorized("invalid API key", "invalid_api_key")
        if scope not in grant.scopes:
            raise ApiError(
                403,
                f"this API key lacks the {scope!r} scope this endpoint needs "
                f"(it has: {', '.join(sorted(grant.scopes))})",
                code="insufficient_scope",
            )
        if grant.rate_limit is not None:
            drawn = await keys.draw(grant)
            if not drawn.allowed:
                raise ApiError(
                    429,
                    f"rate limit of this API key reached ({grant.rate_limit.describe()}): "
                    f"retry in {drawn.retry_after} s",
                    type="rate_limit_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(drawn.retry_after)},
                )
        return grant.tenant_id

    scoped_tenant.__name__ = f"tenant_with_{scope}_scope"
    return scoped_tenant


authenticated_tenant = tenant_with_scope(INFERENCE)
"""For the inference endpoints: chat completions, models, feedback."""
admin_tenant = tenant_with_scope(ADMIN)
"""For administrative endpoints (none is served yet; see docs/operations.md)."""
