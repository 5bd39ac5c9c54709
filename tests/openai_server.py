"""A local HTTP server that speaks OpenAI's chat-completions wire format (JSON and SSE).

It stands in for OpenAI, vLLM, Ollama and the like; the clients are the real adapter and the
official openai SDK. It checks the bearer key and the shape of the messages as OpenAI does, and
answers over HTTP/1.1 with keep-alive, streaming with chunked transfer encoding.

The model name selects the behaviour:
- any other name: an answer. With tools offered (and tool_choice not "none") after a user turn,
  one call per tool (or only the named tool_choice), each string property of the tool's schema
  set to the user's last word; after tool results, "Tool results: <results joined by '; '>";
  otherwise "You said: <last user text>". Tokens are whitespace-separated words; max_tokens cuts
  the answer with finish_reason "length".
- "filtered": an empty answer with finish_reason "content_filter"; "aborted": a cut answer with
  vLLM's finish_reason "abort".
- "rate-limited": 429 with Retry-After: 7; "rate-limited-date": Retry-After as an HTTP date 30 s
  ahead; "rate-limited-reset": only x-ratelimit-* headers (requests exhausted, reset "1m30s");
  "quota": 429 insufficient_quota.
- "server-error": 500; "overloaded": 503 with Retry-After: 2.
- "context": 400 context_length_exceeded; "policy": 400 content_policy_violation;
  "missing-model": 404 model_not_found.
- "malformed": 200 with a JSON body that is not a completion (it echoes the prompt);
  "malformed-shape": a completion whose content is a list holding the prompt; "not-json": HTML.
- "cut-stream": SSE that drops the connection mid-body; "stream-no-done": SSE whose body ends
  cleanly but before a finish_reason or [DONE]; "stream-done-no-finish": [DONE] without a
  finish_reason; "stream-error-event": an OpenAI error event after the 200.
- "slow": answers after 2 s (for client timeouts).
Setting `server.down` makes every completion a 503, whatever the model: an outage, until unset.
Unknown paths answer 404 {"detail": "Not Found"}, as FastAPI-based servers (vLLM) do.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS_PATH = "/v1/chat/completions"
SLOW_SECONDS = 2.0
CREATED = 1_700_000_000


def _error(message: str, error_type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _tokens(text: str) -> int:
    return len(text.split())


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def _validate_messages(messages: Any) -> str | None:
    """OpenAI's own checks on the conversation, or None if it passes them."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    pending_calls: set[str] = set()
    for position, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"messages[{position}].role {role!r} is not supported"
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending_calls:
                return (
                    f"messages[{position}]: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'"
                )
            pending_calls.discard(call_id)
            continue
        if pending_calls:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {sorted(pending_calls)}"
            )
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            if (
                role != "assistant"
                or not isinstance(call.get("id"), str)
                or call.get("type") != "function"
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("arguments"), str)
            ):
                return f"messages[{position}].tool_calls is invalid"
            pending_calls.add(call["id"])
        if role == "assistant" and message.get("content") is None and not message.get("tool_calls"):
            return f"messages[{position}].content is required"
    if pending_calls:
        return f"Missing tool responses for {sorted(pending_calls)}"
    return None


def _tool_calls_for(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none" or body["messages"][-1]["role"] != "user":
        return []
    if isinstance(choice, dict):
        tools = [t for t in tools if t["function"]["name"] == choice["function"]["name"]]
    last_word = _last_user_text(body["messages"]).split()[-1].strip("?!.,")
    calls = []
    for index, tool in enumerate(tools):
        properties = tool["function"].get("parameters", {}).get("properties", {})
        arguments = {
            name: last_word for name, schema in properties.items() if schema.get("type") == "string"
        }
        calls.append(
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": tool["function"]["name"], "arguments": json.dumps(arguments)},
            }
        )
    return calls


def _answer(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str]:
    """(text, tool calls, finish_reason) for a well-formed request to an ordinary model."""
    if body["model"] == "filtered":
        return "", [], "content_filter"
    if body["model"] == "aborted":
        return "You", [], "abort"
    calls = _tool_calls_for(body)
    if calls:
        return "", calls, "tool_calls"
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        results = [m["content"] for m in messages if m["role"] == "tool"]
        text = "Tool results: " + "; ".join(results)
    else:
        text = "You said: " + _last_user_text(messages)
    words = text.split()
    limit = body.get("max_tokens")
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), [], "length"
    return text, [], "stop"


def _usage(body: dict[str, Any], text: str, calls: list[dict[str, Any]]) -> dict[str, int]:
    prompt = sum(_tokens(m.get("content") or "") for m in body["messages"])
    completion = _tokens(text) + sum(_tokens(c["function"]["arguments"]) for c in calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Handler(BaseHTTPRequestHandler):
    server: OpenAICompatServer
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    # --- writing ---

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- reading ---

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self.server.requests.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "client_port": self.client_address[1],
            }
        )
        if self.path != COMPLETIONS_PATH:
            self._send_json(404, {"detail": "Not Found"})
            return
        if self.server.down:
            self._send_json(503, _error("The server is down.", "server_error", None))
            return
        if self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            self._send_json(
                401,
                _error(
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            self._send_json(400, _error("'model' is required", "invalid_request_error", None))
            return
        if problem := _validate_messages(body.get("messages")):
            self._send_json(400, _error(problem, "invalid_request_error", None, "messages"))
            return
        if self._scripted_failure(body):
            return
        if body.get("stream"):
            self._stream(body)
        else:
            self._complete(body)

    def _scripted_failure(self, body: dict[str, Any]) -> bool:
        model = body["model"]
        prompt = _last_user_text(body["messages"])
        if model == "slow":
            time.sleep(SLOW_SECONDS)
            return False
        if model == "rate-limited":
            self._send_json(
                429,
                _error("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
                {"Retry-After": "7"},
            )
        elif model == "rate-limited-date":
            when = datetime.now(UTC) + timedelta(seconds=30)
            self._send_json(
                429,
                _error("Rate limit reached for tokens", "tokens", "rate_limit_exceeded"),
                {"Retry-After": email.utils.format_datetime(when, usegmt=True)},
            )
        elif model == "rate-limited-reset":
            self._send_json(
                429,
                _error("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
                {
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "1m30s",
                    "x-ratelimit-limit-tokens": "30000",
                    "x-ratelimit-remaining-tokens": "29000",
                    "x-ratelimit-reset-tokens": "2ms",
                },
            )
        elif model == "quota":
            self._send_json(
                429,
                _error(
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    "insufficient_quota",
                ),
            )
        elif model == "server-error":
            self._send_json(
                500,
                _error(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                ),
            )
        elif model == "overloaded":
            self._send_json(
                503,
                _error("The engine is currently overloaded.", "server_error", None),
                {"Retry-After": "2"},
            )
        elif model == "context":
            self._send_json(
                400,
                _error(
                    "This model's maximum context length is 128000 tokens. However, your "
                    "messages resulted in 130512 tokens. Please reduce the length of the "
                    "messages.",
                    "invalid_request_error",
                    "context_length_exceeded",
                    "messages",
                ),
            )
        elif model == "policy":
            self._send_json(
                400,
                _error(
                    "Your request was rejected as a result of our safety system.",
                    "invalid_request_error",
                    "content_policy_violation",
                ),
            )
        elif model == "missing-model":
            self._send_json(
                404,
                _error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
        elif model == "malformed":
            self._send_json(200, {"result": "ok", "echo": prompt})
        elif model == "malformed-shape":
            self._send_json(
                200,
                {
                    "object": "chat.completion",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": [prompt]}}
                    ],
                },
            )
        elif model == "not-json":
            payload = f"<html><body>{prompt}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:
            return False
        return True

    # --- answers ---

    def _complete(self, body: dict[str, Any]) -> None:
        text, calls, finish_reason = _answer(body)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if not calls else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{len(self.server.requests)}",
                "object": "chat.completion",
                "created": CREATED,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": _usage(body, text, calls),
                "system_fingerprint": "fp_local",
            },
        )

    def _stream(self, body: dict[str, Any]) -> None:
        model = body["model"]
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        text, calls, finish_reason = _answer(body)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            event: dict[str, Any] = {
                "id": "chatcmpl-stream",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                event["usage"] = None  # as OpenAI does on every chunk but the last
            return event

        self._start_sse()
        self._event(chunk({"role": "assistant", "content": "", "refusal": None}))
        words = text.split()
        for position, word in enumerate(words):
            self._event(chunk({"content": word if position == 0 else " " + word}))
            if model == "cut-stream" and position == 1:
                # Leave without the terminating chunk: the client sees the body break off.
                self.close_connection = True
                return
        if model == "stream-error-event":
            self._event({"error": {"message": "The server had an error.", "type": "server_error"}})
            self._end_chunked()
            return
        if model == "stream-no-done":
            self._end_chunked()
            return
        for index, call in enumerate(calls):
            self._event(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), 5):
                piece = arguments[start : start + 5]
                self._event(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        if model != "stream-done-no-finish":
            self._event(chunk({}, finish_reason))
        if include_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = _usage(body, text, calls)
            self._event(final)
        self._event("[DONE]")
        self._end_chunked()


class OpenAICompatServer(ThreadingHTTPServer):
    def __init__(self, api_key: str = "sk-test") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.down = False
        """An outage: while True, every completion is answered 503."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, as a client is configured with it (up to and including /v1)."""
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that timed out or dropped a stream closes the socket under the handler;
        # that is the test's doing, not a server bug, so only other errors are reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __enter__(self) -> OpenAICompatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        with contextlib.suppress(OSError):
            self.server_close()
