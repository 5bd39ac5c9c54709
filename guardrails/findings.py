"""What a recognizer reports, and the registry that runs them all.

A finding carries offsets, never the matched text: findings end up in logs and outcome rows, and
the value is exactly what must not.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    """Presidio's entity name: EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, ..."""
    start: int
    end: int
    """Character offsets into the scanned text; end exclusive."""
    score: float
    """Confidence in [0, 1]."""


class Recognizer(Protocol):
    entity_types: tuple[str, ...]
    """The entity types this recognizer can report."""

    def find(self, text: str) -> Iterable[Finding]: ...


class Registry:
    """Runs every recognizer and resolves overlaps, so each character has at most one finding."""

    def __init__(self, recognizers: Sequence[Recognizer]) -> None:
        self.recognizers = list(recognizers)

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(sorted({t for r in self.recognizers for t in r.entity_types}))

    def scan(self, text: str, entities: Iterable[str] | None = None) -> list[Finding]:
        wanted = None if entities is None else set(entities)
        found = [
            finding
            for recognizer in self.recognizers
            if wanted is None or wanted.intersection(recognizer.entity_types)
            for finding in recognizer.find(text)
            if wanted is None or finding.type in wanted
        ]
        return resolve_overlaps(found)


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the best of overlapping findings: higher score, then longer span, then earlier start.

    A card number inside a URL, or a phone pattern inside an IBAN, must not be redacted twice with
    interleaved placeholders.
    """
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    # Kept spans never overlap, so in (start, end) order their ends rise too, and a new span can
    # only overlap the last kept one that starts before it ends: one bisection per finding rather
    # than a comparison with every kept one, which made a text with thousands of findings slow.
    kept: list[Finding] = []
    kept_keys: list[tuple[int, int]] = []
    for finding in ranked:
        index = bisect.bisect_left(kept_keys, (finding.end, finding.start))
        if index and kept[index - 1].end > finding.start and kept[index - 1].start < finding.end:
            continue
        at = bisect.bisect_right(kept_keys, (finding.start, finding.end))
        kept.insert(at, finding)
        kept_keys.insert(at, (finding.start, finding.end))
    return kept
