"""The remote codec endpoint the Temporal Web UI calls to show decrypted payloads.

It decrypts anything it is sent, so it is off unless INTERLOCK_CODEC_ENDPOINT is set, and
cross-origin calls are accepted only from the configured UI origins.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec import EncryptionCodec
from gateway.errors import ApiError


def codec_router(codec: EncryptionCodec) -> APIRouter:
    router = APIRouter(prefix="/codec")

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
