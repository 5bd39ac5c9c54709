"""A local HTTP server that speaks Bedrock Runtime's ApplyGuardrail wire format (REST JSON).

It stands in for the AWS endpoint only; the client side is the real boto3. Guardrail ids select
behaviours: "pii-mask" anonymizes email addresses, "deny-topic" blocks text about investment
advice, "throttled" answers 429 ThrottlingException, "denied" 403 AccessDeniedException.
"pii-mask-fewer-outputs" and "pii-mask-more-outputs" anonymize like "pii-mask" but answer with
one output fewer or one more than the texts they were sent, as a faulty backend would.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/guardrail/(?P<id>[^/]+)/version/(?P<version>[^/]+)/apply$")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_USAGE = {
    k: 1
    for k in (
        "topicPolicyUnits",
        "contentPolicyUnits",
        "wordPolicyUnits",
        "sensitiveInformationPolicyUnits",
        "sensitiveInformationPolicyFreeUnits",
        "contextualGroundingPolicyUnits",
    )
}


_OUTPUT_COUNT_CHANGE = {"pii-mask": 0, "pii-mask-fewer-outputs": -1, "pii-mask-more-outputs": 1}


def _respond(texts: list[str], guardrail_id: str) -> dict[str, Any]:
    if guardrail_id in _OUTPUT_COUNT_CHANGE:
        matches = [m.group(0) for t in texts for m in _EMAIL.finditer(t)]
        if not matches:
            return {"action": "NONE", "outputs": [], "assessments": [], "usage": _USAGE}
        outputs = [{"text": _EMAIL.sub("{EMAIL}", t)} for t in texts]
        change = _OUTPUT_COUNT_CHANGE[guardrail_id]
        outputs = outputs[:change] if change < 0 else outputs + [{"text": "{EMAIL}"}] * change
        return {
            "action": "GUARDRAIL_INTERVENED",
            "outputs": outputs,
            "assessments": [
                {
                    "sensitiveInformationPolicy": {
                        "piiEntities": [
                            {"match": m, "type": "EMAIL", "action": "ANONYMIZED"} for m in matches
                        ],
                        "regexes": [],
                    }
                }
            ],
            "usage": _USAGE,
        }
    if guardrail_id == "deny-topic" and any("investment advice" in t.lower() for t in texts):
        return {
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": "Sorry, I cannot help with that."}],
            "assessments": [
                {
                    "topicPolicy": {
                        "topics": [{"name": "Investments", "type": "DENY", "action": "BLOCKED"}]
                    }
                }
            ],
            "usage": _USAGE,
        }
    return {"action": "NONE", "outputs": [], "assessments": [], "usage": _USAGE}


class _Handler(BaseHTTPRequestHandler):
    server: BedrockGuardrailServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: dict[str, Any], error_type: str | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        match = _PATH.match(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        if match is None:
            self._send(404, {"message": "unknown path"}, "ResourceNotFoundException")
            return
        guardrail_id = match.group("id")
        if guardrail_id == "throttled":
            self._send(429, {"message": "Rate exceeded"}, "ThrottlingException")
            return
        if guardrail_id == "denied":
            self._send(403, {"message": "not allowed"}, "AccessDeniedException")
            return
        if body.get("source") not in ("INPUT", "OUTPUT") or not isinstance(
            body.get("content"), list
        ):
            self._send(400, {"message": "source and content are required"}, "ValidationException")
            return
        texts = [block["text"]["text"] for block in body["content"]]
        self._send(200, _respond(texts, guardrail_id))


class BedrockGuardrailServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> BedrockGuardrailServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
