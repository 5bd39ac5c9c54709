"""Context words near a match: the cheap stand-in for a model's sense of what a number is.

"Call 020 7946 0958" and "SSN 078051121" are told apart from a reference number only by the words
around them, so recognizers raise (or, for negative words, drop) a shape's score on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class ContextWords:
    """Whole-word, case-insensitive search in a window of characters around a span."""

    def __init__(self, words: Iterable[str], before: int = 40, after: int = 0) -> None:
        alternatives = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        self.before = before
        self.after = after

    def near(self, text: str, start: int, end: int) -> bool:
        if self._pattern.search(text, max(0, start - self.before), start):
            return True
        return self.after > 0 and self._pattern.search(text, end, end + self.after) is not None
