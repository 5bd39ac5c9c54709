"""The `guardrails scan` contract: {"id", "text"} lines in, findings and redacted text out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from guardrails.findings import Registry
from guardrails.injection import injection_score
from guardrails.redaction import Vault, redact


def scan_line(line: str, registry: Registry) -> tuple[dict[str, Any], bool]:
    """One output object for one input line, and whether it is an error."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"not JSON: {exc.msg}"}, True
    if not isinstance(item, dict):
        return {"id": None, "error": "each line must be a JSON object"}, True
    identifier = item.get("id")
    text = item.get("text")
    if not isinstance(text, str):
        return {"id": identifier, "error": "'text' must be a string"}, True
    findings = registry.scan(text)
    return {
        "id": identifier,
        "findings": [
            {"type": f.type, "start": f.start, "end": f.end, "score": round(f.score, 4)}
            for f in findings
        ],
        "redacted": redact(text, findings, Vault()),
        "injection_score": round(injection_score(text).score, 4),
    }, False


def scan_lines(lines: Iterable[str], registry: Registry) -> tuple[list[str], int]:
    outputs, errors = [], 0
    for line in lines:
        if not line.strip():
            continue
        output, failed = scan_line(line, registry)
        errors += failed
        outputs.append(json.dumps(output, ensure_ascii=False))
    return outputs, errors
