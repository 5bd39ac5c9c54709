"""A request body size limit that answers 413 before anything parses the body.

Starlette's own RequestBodyLimitMiddleware answers a declared oversize body in plain text, whatever
the app's error handlers say; clients of an OpenAI-compatible API expect the JSON error shape, so
the limit is enforced here, on the raw ASGI messages, with the gateway's error response.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError, error_response


class BodySizeLimit:
    """Buffers each request body under `path_prefix` up to `limit` bytes; refuses larger ones."""

    def __init__(self, app: ASGIApp, limit: int, path_prefix: str) -> None:
        self.app = app
        self.limit = limit
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body; nobody to answer
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = ApiError(
            413, f"request body exceeds {self.limit} bytes", code="request_too_large"
        )
        await error_response(too_large)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the buffered body once, then the connection's own messages
    (a streaming response listens there for the client disconnecting)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
