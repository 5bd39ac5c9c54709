"""Checking JSON text (tool-call arguments, tool results) by what its strings say.

In JSON, "Hi,\\nbob@example.com" is written with an escape: scanned raw, the "n" of the escape
would read as part of the address, and a placeholder laid over it would leave a broken escape
behind. So a JSON object or array is scanned as a plain view in which every string literal is
decoded in place, and redaction replaces the found characters inside the decoded strings, which
are then encoded again. The result is valid JSON, and the vault holds each value as it was meant,
ready to be restored into plain text or (escaped) into JSON alike. A number that holds a finding
(a card number sent as a JSON number) becomes a string, since a placeholder is not a number.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from guardrails.findings import Finding
from guardrails.redaction import Vault, redact

# Outside string literals, valid JSON holds only structure, literals and numbers.
_SCALAR = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')


@dataclass(frozen=True, slots=True)
class _Scalar:
    raw_start: int
    raw_end: int
    """The literal in the raw text, quotes included."""
    plain_start: int
    """Where its value starts in the plain view."""
    value: str
    """A string's decoded value, or a number as written."""


class JsonView:
    def __init__(self, raw: str, plain: str, scalars: list[_Scalar]) -> None:
        self.raw = raw
        self.plain = plain
        """The raw text with every string literal decoded in place: what to scan."""
        self._scalars = scalars
        self._starts = [s.plain_start for s in scalars]

    @classmethod
    def of(cls, text: str) -> JsonView | None:
        """The view of a JSON object or array; None for any other text."""
        if not text.lstrip().startswith(("{", "[")):
            return None
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            return None
        pieces, scalars, position, plain_length = [], [], 0, 0
        for match in _SCALAR.finditer(text):
            literal = match.group(0)
            quote = '"' if literal.startswith('"') else ""
            value = json.loads(literal) if quote else literal
            structure = text[position : match.start()]
            plain_length += len(structure)
            pieces += [structure, quote, value, quote]
            scalars.append(_Scalar(match.start(), match.end(), plain_length + len(quote), value))
            plain_length += len(value) + 2 * len(quote)
            position = match.end()
        pieces.append(text[position:])
        return cls(text, "".join(pieces), scalars)

    def redact(self, findings: Iterable[Finding], vault: Vault) -> str:
        """The raw text with each finding (offsets into `plain`) replaced by its placeholder.

        A finding that reaches across literals is redacted in each one it covers.
        """
        parts: dict[int, list[Finding]] = {}
        for finding in findings:
            index = max(0, bisect.bisect_right(self._starts, finding.start) - 1)
            while index < len(self._scalars) and self._starts[index] < finding.end:
                scalar = self._scalars[index]
                start = max(finding.start, scalar.plain_start) - scalar.plain_start
                end = min(finding.end, scalar.plain_start + len(scalar.value)) - scalar.plain_start
                if start < end:
                    parts.setdefault(index, []).append(
                        Finding(finding.type, start, end, finding.score)
                    )
                index += 1
        pieces, position = [], 0
        for index in sorted(parts):
            scalar = self._scalars[index]
            redacted = redact(scalar.value, parts[index], vault)
            pieces += [
                self.raw[position : scalar.raw_start],
                json.dumps(redacted, ensure_ascii=False),
            ]
            position = scalar.raw_end
        pieces.append(self.raw[position:])
        return "".join(pieces)
