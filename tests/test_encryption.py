"""Payload encryption end to end: prompts reach Temporal only as ciphertext.

The control assertions matter as much as the negative ones: each test also shows that the thing
it searches does contain the request (its id), and that the prompt *is* recoverable through the
codec, so a search that could never find anything would fail here.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from devstack.supervisor import temporal_binary
from tests.request_history import finished_workflow


async def send_prompt(stack, marker: str) -> str:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": marker}]},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
    assert response.status_code == 200, response.text
    request_id = response.json()["id"]
    await finished_workflow(stack.client, request_id)  # its whole history, completion included
    return request_id


def temporal_files_bytes(stack) -> bytes:
    files = sorted(stack.temporal_db.parent.glob(stack.temporal_db.name + "*"))
    assert files, "the dev server's database file is missing"
    return b"".join(f.read_bytes() for f in files)


async def test_prompt_is_not_in_the_temporal_database(stack) -> None:
    marker = f"secret-prompt-{uuid.uuid4().hex}"
    request_id = await send_prompt(stack, marker)
    stored = temporal_files_bytes(stack)
    assert request_id.encode() in stored  # we are reading the right database
    assert marker.encode() not in stored

    # Through the codec (the gateway's client) the prompt is in the history.
    history = await stack.client.get_workflow_handle(request_id).fetch_history()
    start = history.events[0].workflow_execution_started_event_attributes
    decoded = await stack.client.data_converter.decode(start.input.payloads)
    assert decoded[0]["chat"]["messages"][0]["content"] == marker


def show_workflow(stack, request_id: str) -> str:
    shown = subprocess.run(
        [
            temporal_binary(),
            "workflow",
            "show",
            "-w",
            request_id,
            "--address",
            stack.temporal_address,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return shown.stdout


def payload_encodings(node: object, path: str = "") -> list[tuple[str, str]]:
    """(path, encoding) of every payload in a `temporal workflow show -o json` document."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if {"metadata", "data"} <= node.keys():
            found.append((path, base64.b64decode(node["metadata"]["encoding"]).decode()))
        for key, value in node.items():
            found += payload_encodings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += payload_encodings(item, f"{path}[{index}]")
    return found


# Plaintext by design: search attributes (ids and names only), and the SDK's own bookkeeping on
# local-activity markers (sequence number, attempt, activity type, times).
PLAINTEXT_BY_DESIGN = ("/searchAttributes/", "/markerRecordedEventAttributes/details/data/")


async def test_temporal_cli_without_codec_shows_only_ciphertext(stack) -> None:
    marker = f"cli-visible-{uuid.uuid4().hex}"
    request_id = await send_prompt(stack, marker)
    output = show_workflow(stack, request_id)
    assert marker not in output
    payloads = payload_encodings(json.loads(output))
    encrypted = [path for path, encoding in payloads if encoding == "binary/encrypted"]
    plaintext = [path for path, encoding in payloads if encoding != "binary/encrypted"]
    # The workflow's input and result, and the call-and-settle step's result and summary.
    assert len(encrypted) >= 4
    assert [p for p in plaintext if not any(part in p for part in PLAINTEXT_BY_DESIGN)] == []


async def test_codec_endpoint_decodes_what_the_ui_sees(stack) -> None:
    marker = f"ui-decoded-{uuid.uuid4().hex}"
    request_id = await send_prompt(stack, marker)
    events = json.loads(show_workflow(stack, request_id))["events"]
    started = events[0]["workflowExecutionStartedEventAttributes"]
    body = json.dumps({"payloads": started["input"]["payloads"]})
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        response = await http.post(
            "/codec/decode",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Namespace": "default",
                "Origin": "http://localhost:8233",
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "http://localhost:8233"
        decoded = json_format.Parse(response.text, Payloads())
        assert marker in decoded.payloads[0].data.decode()
        assert decoded.payloads[0].metadata["encoding"] == b"json/plain"

        # And encode is its inverse.
        encoded = await http.post(
            "/codec/encode", content=response.text, headers={"Content-Type": "application/json"}
        )
        assert encoded.status_code == 200
        sealed = json_format.Parse(encoded.text, Payloads())
        assert sealed.payloads[0].metadata["encoding"] == b"binary/encrypted"
        assert marker.encode() not in sealed.payloads[0].data

        # Garbage gets a 400, not a 500; so does a payload sealed under an unknown key.
        garbage = await http.post("/codec/decode", content=b"{nope")
        assert garbage.status_code == 400
        foreign = {
            "payloads": [
                {
                    "metadata": {
                        "encoding": "YmluYXJ5L2VuY3J5cHRlZA==",
                        "encryption-key-id": "bm9wZQ==",
                    },
                    "data": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                }
            ]
        }
        unknown = await http.post("/codec/decode", json=foreign)
        assert unknown.status_code == 400
        assert "not in the key ring" in unknown.json()["error"]["message"]


async def test_codec_endpoint_refuses_other_origins(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        preflight = await http.options(
            "/codec/decode",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
