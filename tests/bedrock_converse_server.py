"""A local HTTP server that speaks Bedrock Runtime's Converse and ConverseStream wire formats.

It stands in for the AWS endpoint only; the client side is the real boto3. Converse answers in
REST JSON. ConverseStream answers in the AWS event-stream binary framing
(application/vnd.amazon.eventstream), encoded here from the format's description rather than by
the SDK, so that botocore's own parser is what checks it.

Model ids select behaviours:
- the ids in HTTP_ERRORS answer with that status, x-amzn-ErrorType and message;
- "stream-<exceptionType>" (e.g. "stream-throttlingException") streams a first delta, then that
  exception event; Converse answers it normally;
- "malformed" answers 200 with a body that is not Converse's (for a stream: a corrupt frame),
  "malformed-shape" with Converse's fields in the wrong shapes (for a stream: in an event);
- "cut-stream" ends the stream cleanly after a few deltas, without messageStop or metadata;
- "dropped-stream" drops the connection in the middle of a frame;
- "slow" waits SLOW_SECONDS before answering (and a little between stream events);
- "filtered" answers with stopReason guardrail_intervened, "malformed-output" with
  malformed_tool_use.
A stream whose client hangs up is marked "hung_up" in the request log.

Any other id is a well-behaved model. Given tools and no tool results yet, it calls every tool
(or the one toolChoice names) with {"city": "Paris"}; given tool results, it answers with their
text; otherwise it greets and repeats the last user text, honouring maxTokens and stopSequences.
With additionalModelRequestFields {"thinking": {"type": "enabled"}} it adds reasoning blocks
and, like Claude, refuses a continued conversation whose tool-calling assistant turn is not the
exact content it sent. It also refuses what Bedrock refuses: turns that do not alternate, tool
blocks without toolConfig, tool results that answer no tool call, blank text.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream)$")

HTTP_ERRORS: dict[str, tuple[int, str | None, str]] = {
    "throttled": (429, "ThrottlingException", "Too many requests, please wait."),
    "not-ready": (429, "ModelNotReadyException", "Model is not ready for inference."),
    "broken": (500, "InternalServerException", "An internal server error occurred."),
    "unavailable": (503, "ServiceUnavailableException", "Service unavailable."),
    "model-timeout": (408, "ModelTimeoutException", "Model has timed out."),
    "gateway-error": (502, None, "Bad gateway."),
    "denied": (403, "AccessDeniedException", "You don't have access to the model."),
    "bad-key": (403, "UnrecognizedClientException", "The security token is invalid."),
    "too-long": (400, "ValidationException", "Input is too long for requested model."),
    "too-long-llama": (
        400,
        "ValidationException",
        "This model's maximum context length is 8192 tokens. Please reduce the prompt.",
    ),
    "invalid": (400, "ValidationException", "temperature: range: 0..1"),
    "bad-model-id": (400, "ValidationException", "The provided model identifier is invalid."),
    "missing": (404, "ResourceNotFoundException", "Model not found."),
}
RETRY_AFTER_SECONDS = 3
SLOW_SECONDS = 0.5
_STREAM_EXCEPTION_MESSAGES = {
    "validationException": "Input is too long for requested model.",
}
TOOL_INPUT = {"city": "Paris"}
_MALFORMED_BODIES: dict[str, dict[str, Any]] = {
    "malformed": {"greeting": "this is not a Converse answer"},
    "malformed-shape": {"output": "not an object", "stopReason": "end_turn"},
}

# --- the AWS event-stream framing ---

_PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC: three big-endian uint32s
_MESSAGE_CRC_LENGTH = 4
_STRING_HEADER_TYPE = 7


def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC32, headers, payload, message CRC32."""
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total_length = _PRELUDE_LENGTH + len(encoded_headers) + len(payload) + _MESSAGE_CRC_LENGTH
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _encode_header(name: str, value: str) -> bytes:
    name_bytes = name.encode("utf-8")
    value_bytes = value.encode("utf-8")
    return (
        struct.pack(">B", len(name_bytes))
        + name_bytes
        + struct.pack(">BH", _STRING_HEADER_TYPE, len(value_bytes))
        + value_bytes
    )


def event_frame(event_type: str, body: dict[str, Any]) -> bytes:
    # Bedrock pads every event with a "p" field (against length side channels); the SDK must
    # ignore it, so it is sent here too.
    payload = json.dumps({**body, "p": "abcdefghij"[: len(event_type) % 10]}).encode()
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_event_message(headers, payload)


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event_message(headers, json.dumps({"message": message}).encode())


# --- the well-behaved model ---


class _Refused(Exception):
    """The request breaks a rule Bedrock enforces: answered 400 ValidationException."""


def _words(text: str) -> int:
    return len(text.split())


def _request_tokens(body: dict[str, Any]) -> int:
    texts = [block.get("text", "") for block in body.get("system", [])]
    for message in body["messages"]:
        for block in message["content"]:
            texts.append(block.get("text", ""))
            for item in block.get("toolResult", {}).get("content", []):
                texts.append(item.get("text", ""))
    return max(1, sum(_words(text) for text in texts))


def _thinking_enabled(body: dict[str, Any]) -> bool:
    fields = body.get("additionalModelRequestFields") or {}
    return fields.get("thinking", {}).get("type") == "enabled"


class _Model:
    """The well-behaved model; remembers what it sent so it can check what comes back."""

    def __init__(self) -> None:
        self._sent_with_tool_use: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def reply(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check(body)
        last = body["messages"][-1]
        results = [block["toolResult"] for block in last["content"] if "toolResult" in block]
        tools = (body.get("toolConfig") or {}).get("tools", [])
        content: list[dict[str, Any]] = []
        if model == "filtered":
            stop_reason = "guardrail_intervened"
            content.append({"text": "Sorry, I cannot help with that."})
        elif model == "malformed-output":
            stop_reason = "malformed_tool_use"
            content.append({"text": "Calling get_weather with {city: Paris"})
        elif results:
            texts = [item["text"] for result in results for item in result["content"]]
            text, stop_reason = "Answer from tools: " + "; ".join(texts), "end_turn"
            content.append({"text": text})
        elif tools:
            if _thinking_enabled(body):
                content += self._reasoning_blocks()
            content.append({"text": "Let me look that up."})
            for name in self._tools_to_call(body):
                tool_use = {
                    "toolUseId": f"tooluse_{uuid.uuid4().hex[:20]}",
                    "name": name,
                    "input": TOOL_INPUT,
                }
                content.append({"toolUse": tool_use})
            stop_reason = "tool_use"
        else:
            said = " ".join(block.get("text", "") for block in last["content"])
            text, stop_reason = self._limited(f"Hello from {model}. You said: {said}", body)
            content.append({"text": text})
        with self._lock:
            for block in content:
                if "toolUse" in block:
                    self._sent_with_tool_use[block["toolUse"]["toolUseId"]] = content
        output_tokens = sum(_words(block.get("text", "")) for block in content) + 10 * len(
            [block for block in content if "toolUse" in block]
        )
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": _request_tokens(body),
                "outputTokens": output_tokens,
                "totalTokens": _request_tokens(body) + output_tokens,
            },
            "metrics": {"latencyMs": 7},
        }

    @staticmethod
    def _reasoning_blocks() -> list[dict[str, Any]]:
        signature = f"sig-{uuid.uuid4().hex}"
        redacted = base64.b64encode(b"\x00opaque\xffreasoning" + uuid.uuid4().bytes).decode()
        return [
            {
                "reasoningContent": {
                    "reasoningText": {
                        "text": "The user wants the weather, so call the tool.",
                        "signature": signature,
                    }
                }
            },
            {"reasoningContent": {"redactedContent": redacted}},
        ]

    @staticmethod
    def _tools_to_call(body: dict[str, Any]) -> list[str]:
        config = body["toolConfig"]
        chosen = config.get("toolChoice", {}).get("tool", {}).get("name")
        return [chosen] if chosen else [tool["toolSpec"]["name"] for tool in config["tools"]]

    @staticmethod
    def _limited(text: str, body: dict[str, Any]) -> tuple[str, str]:
        config = body.get("inferenceConfig", {})
        for stop in config.get("stopSequences", []):
            if stop in text:
                return text[: text.index(stop)], "stop_sequence"
        words = text.split()
        limit = config.get("maxTokens")
        if limit is not None and len(words) > limit:
            return " ".join(words[:limit]), "max_tokens"
        return text, "end_turn"

    def _check(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refused("messages must not be empty")
        if messages[0]["role"] != "user":
            raise _Refused("A conversation must start with a user message.")
        for previous, current in itertools.pairwise(messages):
            if previous["role"] == current["role"]:
                raise _Refused("A conversation must alternate between user and assistant roles.")
        blocks = [block for message in messages for block in message["content"]]
        if any("text" in block and not block["text"].strip() for block in blocks):
            raise _Refused("The text field in the ContentBlock object is blank.")
        uses_tools = any("toolUse" in block or "toolResult" in block for block in blocks)
        if uses_tools and "toolConfig" not in body:
            raise _Refused(
                "The toolConfig field must be defined when using toolUse and toolResult "
                "content blocks."
            )
        for previous, current in itertools.pairwise(messages):
            asked = [b["toolUse"]["toolUseId"] for b in previous["content"] if "toolUse" in b]
            answered = [
                b["toolResult"]["toolUseId"] for b in current["content"] if "toolResult" in b
            ]
            if sorted(asked) != sorted(answered):
                raise _Refused("Each toolUse block needs a toolResult block in the next turn.")
            if asked and _thinking_enabled(body):
                with self._lock:
                    sent = self._sent_with_tool_use.get(asked[0])
                if previous["content"] != sent:
                    raise _Refused(
                        "Expected `thinking` or `redacted_thinking`, but found `text`. When "
                        "thinking is enabled, the assistant turn must be sent back unchanged."
                    )


def _stream_frames(reply: dict[str, Any]) -> list[bytes]:
    frames = [event_frame("messageStart", {"role": "assistant"})]
    for index, block in enumerate(reply["output"]["message"]["content"]):
        deltas: list[dict[str, Any]] = []
        if "text" in block:
            deltas = [{"text": piece} for piece in re.findall(r"\s*\S+", block["text"])]
        elif "toolUse" in block:
            tool_use = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}}
            frames.append(
                event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
            )
            arguments = json.dumps(tool_use["input"])
            deltas = [
                {"toolUse": {"input": arguments[i : i + 5]}} for i in range(0, len(arguments), 5)
            ]
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]
            if "reasoningText" in reasoning:
                deltas = [
                    {"reasoningContent": {"text": reasoning["reasoningText"]["text"]}},
                    {"reasoningContent": {"signature": reasoning["reasoningText"]["signature"]}},
                ]
            else:
                deltas = [{"reasoningContent": {"redactedContent": reasoning["redactedContent"]}}]
        for delta in deltas:
            frames.append(
                event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
            )
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event_frame("messageStop", {"stopReason": reply["stopReason"]}))
    frames.append(event_frame("metadata", {"usage": reply["usage"], "metrics": reply["metrics"]}))
    return frames


# --- HTTP ---


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 for keep-alive and chunked streams, as Bedrock serves them.
    protocol_version = "HTTP/1.1"
    server: BedrockConverseServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send_json(self, status: int, body: dict[str, Any], error_type: str | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        if status == 429:
            self.send_header("Retry-After", str(RETRY_AFTER_SECONDS))
        self.end_headers()
        self.wfile.write(payload)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = _PATH.match(self.path)
        body = json.loads(raw or b"{}")
        record: dict[str, Any] = {
            "path": unquote(self.path),
            "model": unquote(match["model"]) if match else None,
            "operation": match["operation"] if match else None,
            "headers": dict(self.headers),
            "body": body,
        }
        self.server.requests.append(record)
        if match is None:
            self._send_json(404, {"message": "unknown path"}, "UnknownOperationException")
            return
        model, streaming = record["model"], match["operation"] == "converse-stream"
        if model == "slow":
            time.sleep(SLOW_SECONDS)
        if model in HTTP_ERRORS:
            status, error_type, message = HTTP_ERRORS[model]
            self._send_json(status, {"message": message}, error_type)
            return
        if model in _MALFORMED_BODIES and not streaming:
            self._send_json(200, _MALFORMED_BODIES[model])
            return
        try:
            reply = self.server.model.reply(model, body)
        except _Refused as exc:
            self._send_json(400, {"message": str(exc)}, "ValidationException")
            return
        record["reply"] = reply["output"]["message"]["content"]
        if streaming:
            self._stream(model, _stream_frames(reply), record)
        else:
            self._send_json(200, reply)

    def _stream(self, model: str, frames: list[bytes], record: dict[str, Any]) -> None:
        self._start_stream()
        if model.startswith("stream-"):
            exception_type = model.removeprefix("stream-")
            message = _STREAM_EXCEPTION_MESSAGES.get(exception_type, "The stream failed.")
            for frame in [*frames[:2], exception_frame(exception_type, message)]:
                self._send_chunk(frame)
            self._end_stream()
        elif model == "malformed":
            corrupt = bytearray(frames[1])
            corrupt[-1] ^= 0xFF  # the message CRC no longer matches
            self._send_chunk(frames[0])
            self._send_chunk(bytes(corrupt))
            self._end_stream()
        elif model == "malformed-shape":
            self._send_chunk(frames[0])
            wrong = {"contentBlockIndex": 0, "delta": "not an object"}
            self._send_chunk(event_frame("contentBlockDelta", wrong))
            self._end_stream()
        elif model == "cut-stream":
            for frame in frames[:4]:
                self._send_chunk(frame)
            self._end_stream()
        elif model == "dropped-stream":
            self._send_chunk(frames[0])
            self._send_chunk(frames[1])
            partial = frames[2]
            # Announce the whole frame, send half of it, and hang up.
            self.wfile.write(f"{len(partial):X}\r\n".encode() + partial[: len(partial) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            try:
                for frame in frames:
                    if model == "slow":
                        time.sleep(SLOW_SECONDS / 20)
                    self._send_chunk(frame)
                self._end_stream()
            except ConnectionError:
                # The client hung up mid-answer: a real model would stop generating here.
                record["hung_up"] = True
                self.close_connection = True


class BedrockConverseServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.model = _Model()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (read timeouts, abandoned streams) are part of the tests.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["model"] == model]

    def __enter__(self) -> BedrockConverseServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
