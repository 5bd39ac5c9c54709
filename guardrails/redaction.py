"""Reversible redaction: stable placeholders in, original values back out.

Within one request the same value always gets the same placeholder (`<EMAIL_ADDRESS_1>`), across
all of its messages, so the model can still tell two people's addresses apart and refer to them;
the vault maps placeholders back for the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from guardrails.findings import Finding

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")


class Vault:
    """Placeholder <-> value for one request."""

    def __init__(self, entries: dict[str, str] | None = None) -> None:
        self.by_placeholder: dict[str, str] = dict(entries or {})
        self._by_value = {(self._type_of(p), v): p for p, v in self.by_placeholder.items()}
        self._counters: dict[str, int] = {}
        for placeholder in self.by_placeholder:
            match = _PLACEHOLDER.fullmatch(placeholder)
            if match:
                kind, number = match.group(1), int(match.group(2))
                self._counters[kind] = max(self._counters.get(kind, 0), number)

    @staticmethod
    def _type_of(placeholder: str) -> str:
        match = _PLACEHOLDER.fullmatch(placeholder)
        return match.group(1) if match else ""

    def placeholder_for(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        if key not in self._by_value:
            self._counters[entity_type] = self._counters.get(entity_type, 0) + 1
            placeholder = f"<{entity_type}_{self._counters[entity_type]}>"
            self._by_value[key] = placeholder
            self.by_placeholder[placeholder] = value
        return self._by_value[key]


def redact(text: str, findings: Iterable[Finding], vault: Vault) -> str:
    """Replace each finding's span with its placeholder. Findings must not overlap."""
    pieces: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < position:
            raise ValueError("findings overlap; resolve them before redacting")
        pieces.append(text[position : finding.start])
        pieces.append(vault.placeholder_for(finding.type, text[finding.start : finding.end]))
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def restore(text: str, vault: Vault, *, json_string: bool = False) -> str:
    """Put original values back where the model repeated a placeholder.

    With `json_string` the text is JSON (tool-call arguments), where a placeholder can only stand
    inside a string literal: values go back escaped as string content, so the JSON stays valid.
    """
    if not vault.by_placeholder:
        return text

    def value(match: re.Match[str]) -> str:
        original = vault.by_placeholder.get(match.group(0))
        if original is None:
            return match.group(0)
        return json.dumps(original, ensure_ascii=False)[1:-1] if json_string else original

    return _PLACEHOLDER.sub(value, text)
