"""The remote codec endpoint the Temporal Web UI calls to show decrypted payloads.

It decrypts anything it is sent, so it is off unless INTERLOCK_CODEC_ENDPOINT is set. CORS only
limits what browsers will do; what keeps everyone else out is the bind address or a token. On a
loopback bind only this machine reaches it, so the dev stack serves it open. On any other address
it needs INTERLOCK_CODEC_TOKEN, and the gateway refuses to start without one. A token, once set,
is required on loopback too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec import EncryptionCodec
from configuration import Settings
from gateway.errors import ApiError


class CodecExposureError(ValueError):
    """The codec endpoint would decrypt for anyone who can reach a non-loopback address."""


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # another host name: it may resolve to a public interface
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def codec_endpoint_token(settings: Settings) -> str | None:
    """The token the codec endpoint requires, or None where it may run open.

    Raises CodecExposureError when the endpoint is on, the gateway binds a non-loopback address
    and no token is set: decrypting for the network is never a default.
    """
    token = (settings.codec_token.get_secret_value() if settings.codec_token else "") or None
    if not settings.codec_endpoint or token:
        return token
    if not is_loopback(settings.gateway_host):
        raise CodecExposureError(
            f"the codec endpoint (INTERLOCK_CODEC_ENDPOINT) decrypts payloads for whoever calls "
            f"it, and the gateway binds {settings.gateway_host!r}, which is not a loopback "
            f"address: set INTERLOCK_CODEC_TOKEN, bind 127.0.0.1, or turn the codec endpoint off"
        )
    return None


_codec_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="CodecToken",
    description="Authorization: Bearer <INTERLOCK_CODEC_TOKEN>",
)


def _token_check(expected: str) -> Callable[..., Awaitable[None]]:
    # Digests have one length whatever the guess, so the comparison reveals nothing by its time.
    expected_digest = hashlib.sha256(expected.encode()).digest()

    async def require_codec_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_codec_bearer)],
    ) -> None:
        unauthorized = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise ApiError(
                401,
                "the codec endpoint needs 'Authorization: Bearer <INTERLOCK_CODEC_TOKEN>'",
                code="missing_codec_token",
                headers=unauthorized,
            )
        presented = hashlib.sha256(credentials.credentials.encode()).digest()
        if not hmac.compare_digest(presented, expected_digest):
            raise ApiError(
                401, "invalid codec token", code="invalid_codec_token", headers=unauthorized
            )

    return require_codec_token


CODEC_PREFIX = "/codec"


def codec_router(codec: EncryptionCodec, token: str | None) -> APIRouter:
    """/codec/encode and /codec/decode; with a `token`, only for requests that present it."""
    router = APIRouter(
        prefix=CODEC_PREFIX, dependencies=[Depends(_token_check(token))] if token else []
    )

    async def _apply(request: Request, decode: bool) -> Response:
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, f"body must be JSON Payloads: {exc}", code="invalid_payloads"
            ) from None
        try:
            if decode:
                converted = await codec.decode(payloads.payloads)
            else:
                converted = await codec.encode(payloads.payloads)
        except ValueError as exc:
            raise ApiError(400, str(exc), code="undecodable_payload") from None
        body = json_format.MessageToJson(Payloads(payloads=converted))
        return Response(body, media_type="application/json")

    @router.post("/decode")
    async def decode(request: Request) -> Response:
        return await _apply(request, decode=True)

    @router.post("/encode")
    async def encode(request: Request) -> Response:
        return await _apply(request, decode=False)

    return router
