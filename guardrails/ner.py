"""PERSON and LOCATION through a pluggable named-entity backend, off unless one is supplied.

Names and places have no shape a pattern can check, so they need a model; a model is too heavy to
load on every gateway by default and is not a runtime dependency. A deployment that wants them
wraps its model (spaCy, a hosted NER endpoint, ...) in a `NerBackend` and passes it to
`default_registry(include_ner=...)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from guardrails.findings import Finding

NER_ENTITY_TYPES: tuple[str, ...] = ("PERSON", "LOCATION")


class NerBackend(Protocol):
    def find_entities(self, text: str) -> Iterable[Finding]:
        """Findings with Presidio's names (PERSON, LOCATION) and character offsets into text."""
        ...


class NerRecognizer:
    """Adapts a backend to the Recognizer protocol, keeping only well-formed findings.

    A backend's other labels (ORG, DATE, ...) are dropped rather than passed on under names no
    policy expects, and spans outside the text (an off-by-one in a tokenizer's offset mapping) are
    dropped rather than redacting the wrong characters.
    """

    def __init__(
        self, backend: NerBackend, entity_types: tuple[str, ...] = NER_ENTITY_TYPES
    ) -> None:
        self.backend = backend
        self.entity_types = entity_types

    def find(self, text: str) -> Iterator[Finding]:
        for finding in self.backend.find_entities(text):
            if (
                finding.type in self.entity_types
                and 0 <= finding.start < finding.end <= len(text)
                and 0.0 <= finding.score <= 1.0
            ):
                yield finding
