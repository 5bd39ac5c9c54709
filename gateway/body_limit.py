"""Limits on what a request may bring in, enforced before anything parses it.

Starlette's own RequestBodyLimitMiddleware answers a declared oversize body in plain text, whatever
the app's error handlers say; clients of an OpenAI-compatible API expect the JSON error shape, so
the limits are enforced here, on the raw ASGI messages, with the gateway's error response.

Besides its size, a JSON body is checked for what would otherwise fail deep inside the gateway
rather than at its edge: bytes that are not UTF-8, NUL characters (PostgreSQL text cannot hold
them), lone UTF-16 surrogates (no UTF-8 encoder takes them, so the first payload or store write
would fail) and nesting deep enough to exhaust a recursive parser or serializer. Each check runs
over the raw bytes at C speed, and only when a cheap test says the body may need it.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import ApiError, ErrorDetail, ErrorResponse, error_response


class RequestGuard:
    """Refuses a request whose head is larger than `header_limit` bytes; buffers each body under
    a prefix of `body_limits` up to that prefix's limit, refusing larger ones and JSON bodies
    that `json_problem` finds fault with."""

    def __init__(
        self, app: ASGIApp, header_limit: int, body_limits: dict[str, int], max_json_depth: int
    ) -> None:
        self.app = app
        self.header_limit = header_limit
        self.body_limits = body_limits
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = len(scope.get("raw_path") or b"") + sum(
            len(name) + len(value) for name, value in scope["headers"]
        )
        if head > self.header_limit:
            await error_response(headers_too_large(head, self.header_limit))(scope, receive, send)
            return
        limit = next(
            (size for prefix, size in self.body_limits.items() if scope["path"].startswith(prefix)),
            None,
        )
        if limit is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await error_response(body_too_large(limit))(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body; nobody to answer
            body += message.get("body", b"")
            if len(body) > limit:
                await error_response(body_too_large(limit))(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if is_json(headers.get("content-type")) and (
            problem := json_problem(bytes(body), self.max_json_depth)
        ):
            await error_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body exceeds {limit} bytes", code="request_too_large")


def headers_too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        431,
        f"the request's headers take {size:,} bytes; at most {limit:,} are accepted",
        code="headers_too_large",
    )


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body with this Content-Type as JSON (it does without one too)."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


# --- what is wrong with a JSON body, from its bytes ---

# With every escaped backslash blanked out (same length, so offsets still point into the body),
# each backslash left starts an escape: `\\ud800` is text, `\ud800` a surrogate. A high surrogate
# must be followed by a low one and a low one preceded by a high one; both alternatives begin with
# the same literal, which keeps the search at C speed.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD])[c-fC-F][0-9a-fA-F]{2})"
)


def json_problem(body: bytes, max_depth: int) -> ApiError | None:
    """Why the gateway will not parse `body` as JSON, as a 400; None when the parser may have it
    (which still refuses what is not JSON at all)."""
    if (nul := body.find(b"\x00")) >= 0:
        return ApiError(
            400,
            f"the request body has a NUL byte at offset {nul}: send JSON encoded as UTF-8",
            code="invalid_json",
        )
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ApiError(
                400,
                f"the request body is not valid UTF-8: {exc.reason} at offset {exc.start}",
                code="invalid_json",
            )
    if b"\\u" in body:
        escapes = body.replace(b"\\\\", b"__")
        if (nul := escapes.find(b"\\u0000")) >= 0:
            return ApiError(
                400,
                f"the request body has a NUL character (\\u0000) at offset {nul}; "
                "strings may not contain NUL",
                code="invalid_value",
            )
        if lone := _LONE_SURROGATE.search(escapes):
            escape = lone.group().decode()
            return ApiError(
                400,
                f"the request body has a lone UTF-16 surrogate ({escape}) at offset "
                f"{lone.start()}: a surrogate escape must be one of a high and low pair",
                code="invalid_json",
            )
    if body.count(b"[") + body.count(b"{") > max_depth:
        depth = nesting_depth(body)
        if depth > max_depth:
            return ApiError(
                400,
                f"the request body nests arrays and objects {depth} levels deep; "
                f"at most {max_depth} are accepted",
                code="nesting_too_deep",
            )
    return None


_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, brackets inside strings not counted.

    Linear in the body and mostly in C: no parser is asked, since asking one is what a deeply
    nested body is built to break.
    """
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")  # now no quote is escaped
    # Quotes and brackets only. A string without brackets is then an empty pair of quotes, and
    # dropping each `""` leaves every other quote paired as it was: the few strings left are
    # those with brackets inside, whose brackets go with them.
    marks = unescaped.translate(_SQUARE, _NOT_MARKS).replace(b'""', b"")
    brackets = b"".join(marks.split(b'"')[::2]) if b'"' in marks else marks
    if b"[]" not in brackets:
        return _peak(brackets)
    # Dropping every innermost pair lowers each peak by one and removes most of the runs that
    # _peak would count one by one (a body of `[],[],[],...` is nothing but such pairs).
    return 1 + _peak(brackets.replace(b"[]", b""))


def _peak(brackets: bytes) -> int:
    runs = _RUNS.findall(brackets)
    if not runs:
        return 0
    steps = list(map(len, runs))
    closing = 1 if runs[0].startswith(b"[") else 0  # runs alternate between [ and ]
    steps[closing::2] = map(operator.neg, steps[closing::2])
    return max(0, max(accumulate(steps)))


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


# --- the request head, as the HTTP server reads it ---


class HeadLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head.

    httptools holds a request's head in memory until its last header arrives, however long that
    takes (a 64 MiB header was taken whole), and uvicorn sets it no limit, so a head that grows
    past `head_limit` bytes is answered with a 431 and its connection closed while it is still
    arriving. A head that ends within the read that crossed the limit is left to RequestGuard,
    which measures it exactly.
    """

    head_limit = 32_768

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._reading_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head, self._head_bytes = True, 0
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        too_long = self._reading_head and self._head_bytes > self.head_limit
        if too_long and not self.transport.is_closing():
            self._refuse_head()

    def _refuse_head(self) -> None:
        error = headers_too_large(self._head_bytes, self.head_limit)
        detail = ErrorDetail(message=error.message, type=error.type, param=None, code=error.code)
        body = json.dumps(ErrorResponse(error=detail).model_dump()).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()


def head_limited_http(head_limit: int) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http` setting, refusing heads over `head_limit` bytes."""
    return type("HeadLimitedHttpTools", (HeadLimitedHttpTools,), {"head_limit": head_limit})
