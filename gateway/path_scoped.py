"""An ASGI middleware that only requests under one path prefix pass through.

The codec endpoint is the one route a browser calls across origins (the Temporal Web UI's), so
its CORS handling has no business on the request path, where it cost every chat completion a
pass through the CORS middleware and its header checks.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class UnderPrefix:
    def __init__(self, app: ASGIApp, prefix: str, middleware: type, **options: Any) -> None:
        self._app = app
        self._prefix = prefix
        self._wrapped = middleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefix):
            await self._wrapped(scope, receive, send)
        else:
            await self._app(scope, receive, send)
