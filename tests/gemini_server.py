"""A local HTTP server that speaks the Gemini API's REST wire format (v1beta generateContent).

It stands in for generativelanguage.googleapis.com only; the client side is the real
google-genai SDK. It serves `POST /v1beta/models/{model}:generateContent` (JSON) and
`:streamGenerateContent?alt=sse` (server-sent events, one GenerateContentResponse per event).

With tools in the request it answers the first user turn with a function call carrying a
`thoughtSignature`, and the turn after the function response with text. Like the real API, it
refuses (400) a function response whose preceding function call came back without its
signature, or with other bytes than it issued.

Model names script failures: "rate-limited" (429 RESOURCE_EXHAUSTED with RetryInfo "7s"),
"rate-limited-header" (429 with only a Retry-After header), "server-error" (500),
"unauthorized" (403), "bad-key" (400 API_KEY_INVALID), "too-long" (400 token count),
"bad-request" (400 whose message quotes the prompt), "missing-model" (404), "malformed" (200
with an OpenAI-shaped body), "not-json" (200 HTML), "blocked" (promptFeedback SAFETY),
"finish-max-tokens", "finish-safety", "slow" (answers after a second), "cut-stream" (SSE that
ends cleanly before any finishReason) and "broken-stream" (chunked SSE cut off mid-body).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(
    r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)"
    r"(?:\?(?P<query>.*))?$"
)
# Opaque bytes, as Gemini's are, with non-UTF-8 values so a lossy round trip shows, and bytes
# whose standard base64 has "/" in it.
SIGNATURE_BYTES = b"\x12\x9f\xffopaque-thought-signature\x00"
THOUGHT_SIGNATURE = base64.b64encode(SIGNATURE_BYTES).decode()
FUNCTION_ARGS = {"city": "Paris", "unit": "celsius"}
USAGE = {
    "promptTokenCount": 1000,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 50,
    "totalTokenCount": 1250,
}


def _error(code: int, status: str, message: str, details: list[dict] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


_FAILURES: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "rate-limited": (
        429,
        _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": "generate_content_free_tier_requests"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
            ],
        ),
        {},
    ),
    "rate-limited-header": (
        429,
        _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        {"Retry-After": "3"},
    ),
    "server-error": (500, _error(500, "INTERNAL", "An internal error has occurred."), {}),
    "unauthorized": (
        403,
        _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
        {},
    ),
    "bad-key": (
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        ),
        {},
    ),
    "too-long": (
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        {},
    ),
    "missing-model": (
        404,
        _error(
            404,
            "NOT_FOUND",
            "models/missing-model is not found for API version v1beta, or is not supported "
            "for generateContent.",
        ),
        {},
    ),
}


class _Handler(BaseHTTPRequestHandler):
    server: GeminiServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        match = _PATH.match(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw or b"{}")
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        if match is None or match.group("version") != "v1beta":
            self._send_json(404, _error(404, "NOT_FOUND", f"unknown path {self.path}"))
            return
        if self.headers.get("x-goog-api-key") != self.server.api_key:
            self._send_json(401, _error(401, "UNAUTHENTICATED", "API key missing or wrong."))
            return
        model = match.group("model")
        streaming = match.group("method") == "streamGenerateContent"
        if streaming and match.group("query") != "alt=sse":
            self._send_json(400, _error(400, "INVALID_ARGUMENT", "this server only streams SSE"))
            return

        if model in _FAILURES:
            status, error, headers = _FAILURES[model]
            self._send_json(status, error, headers)
            return
        if model == "bad-request":
            # Real messages can quote request values; the adapter must not pass them on.
            text = body["contents"][-1]["parts"][0].get("text", "")
            message = f"Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), \"{text}\""
            self._send_json(400, _error(400, "INVALID_ARGUMENT", message))
            return
        if model == "malformed":
            self._send_json(200, {"object": "chat.completion", "choices": [{"text": "hi"}]})
            return
        if model == "not-json":
            payload = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if model == "slow":
            time.sleep(1.0)
        if model == "blocked":
            self._send_json(
                200,
                {
                    "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                    "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
                },
            )
            return

        problem = _missing_signature(body)
        if problem:
            self._send_json(400, _error(400, "INVALID_ARGUMENT", problem))
            return
        chunks = _answer(model, body)
        if not streaming:
            self._send_json(200, _merge(chunks))
        elif model == "broken-stream":
            self._send_broken_stream(chunks[0])
        else:
            if model == "cut-stream":
                chunks = [c for c in chunks if not _finished(c)]
            self._send_sse(chunks)

    def _send_sse(self, chunks: list[dict[str, Any]]) -> None:
        # HTTP/1.0 semantics: no Content-Length, the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def _send_broken_stream(self, first: dict[str, Any]) -> None:
        # Announce a chunked body, send one whole event, then close mid-chunk: a dropped
        # connection, which the client sees as a protocol error rather than a clean end.
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event = f"data: {json.dumps(first)}\r\n\r\n".encode()
        self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        self.wfile.write(b'400\r\ndata: {"candi')
        self.wfile.flush()
        self.close_connection = True


def decode_proto_bytes(text: str) -> bytes:
    """A bytes field as proto JSON reads it: standard or URL-safe base64, padded or not.

    The SDK sends bytes URL-safe encoded, while the API sends them standard encoded.
    """
    standard = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def _finished(chunk: dict[str, Any]) -> bool:
    return any("finishReason" in c for c in chunk.get("candidates", []))


def _missing_signature(body: dict[str, Any]) -> str | None:
    """Gemini refuses a function response whose function call lost its thought signature."""
    contents = body.get("contents", [])
    for position, content in enumerate(contents):
        answers_call = any("functionResponse" in p for p in content.get("parts", []))
        if not answers_call or position == 0:
            continue
        previous = contents[position - 1]
        calls = [p for p in previous.get("parts", []) if "functionCall" in p]
        if previous.get("role") != "model" or not calls:
            return "Please ensure that function response turn comes right after a function call."
        name = calls[0]["functionCall"].get("name")
        if "thoughtSignature" not in calls[0]:
            return (
                f"Function call `{name}` in the {position}. content block is missing a "
                "`thought_signature`."
            )
        if decode_proto_bytes(calls[0]["thoughtSignature"]) != SIGNATURE_BYTES:
            return (
                f"Function call `{name}` in the {position}. content block has a corrupt "
                "`thought_signature`."
            )
    return None


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def _answer(model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer as stream events; a non-streamed reply is their merge."""
    meta = {"modelVersion": model, "responseId": "resp-local-1"}
    last = body["contents"][-1]
    answered_call = any("functionResponse" in p for p in last.get("parts", []))
    declarations = [
        d for tool in body.get("tools", []) for d in tool.get("functionDeclarations", [])
    ]
    calling = body.get("toolConfig", {}).get("functionCallingConfig", {})
    if declarations and not answered_call and calling.get("mode", "AUTO") != "NONE":
        allowed = calling.get("allowedFunctionNames")
        name = allowed[0] if allowed else declarations[0]["name"]
        call_part = {
            "functionCall": {"name": name, "args": FUNCTION_ARGS},
            "thoughtSignature": THOUGHT_SIGNATURE,
        }
        return [
            {"candidates": [_candidate([{"text": "Let me check "}], None)], **meta},
            {"candidates": [_candidate([{"text": "the weather."}], None)], **meta},
            {"candidates": [_candidate([call_part], "STOP")], "usageMetadata": USAGE, **meta},
        ]
    words = ["It is 18 degrees ", "in Paris."] if answered_call else ["Hello ", "from ", "Gemini."]
    finish = {"finish-max-tokens": "MAX_TOKENS", "finish-safety": "SAFETY"}.get(model, "STOP")
    events = [{"candidates": [_candidate([{"text": w}], None)], **meta} for w in words[:-1]]
    events.append(
        {
            "candidates": [_candidate([{"text": words[-1]}], finish)],
            "usageMetadata": USAGE,
            **meta,
        }
    )
    return events


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Stream events folded into one response: adjacent text parts joined, as the API does."""
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "text" in part and parts and set(parts[-1]) == {"text"}:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
    final = chunks[-1]
    merged = {k: v for k, v in final.items() if k != "candidates"}
    merged["candidates"] = [_candidate(parts, final["candidates"][0].get("finishReason"))]
    return merged


class GeminiServer(ThreadingHTTPServer):
    # A test that times out leaves a handler sleeping; it must not hold up shutdown.
    daemon_threads = True
    block_on_close = False

    def __init__(self, api_key: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out has hung up; writing to it fails, and that is expected.
        pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> GeminiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
