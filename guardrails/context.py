"""Context words near a match: the cheap stand-in for a model's sense of what a number is.

"Call 020 7946 0958" and "SSN 078051121" are told apart from a reference number only by the words
around them, so recognizers raise (or, for negative words, drop) a shape's score on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class ContextWords:
    """Whole-word, case-insensitive search in a window of characters around a span."""

    def __init__(
        self, words: Iterable[str], before: int = 40, after: int = 0, same_line: bool = False
    ) -> None:
        """`same_line`: the windows stop at line breaks, so a list or an address block's next line
        says nothing about the span."""
        alternatives = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        self.before = before
        self.after = after
        self.same_line = same_line

    def near(self, text: str, start: int, end: int) -> bool:
        low, high = max(0, start - self.before), end + self.after
        if self.same_line:
            low = max(low, text.rfind("\n", low, start) + 1)
            line_end = text.find("\n", end, high)
            high = high if line_end < 0 else line_end
        if self._pattern.search(text, low, start):
            return True
        return self.after > 0 and self._pattern.search(text, end, high) is not None
