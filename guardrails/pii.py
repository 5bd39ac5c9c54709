"""Personal data with a fixed shape: EMAIL_ADDRESS, CREDIT_CARD, US_SSN, IBAN_CODE.

Every pattern refuses to start inside a longer token (a lookbehind), so the engine tries each run
of characters once, and bounded quantifiers keep the work per start small: no input makes these
patterns backtrack catastrophically. Checksums (Luhn, mod-97) then decide what the shape only
suggests. Phone numbers are in phone.py, IP addresses and URLs in network.py.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import ClassVar

from guardrails.context import ContextWords
from guardrails.findings import Finding
from guardrails.validators import IBAN_LENGTHS, card_issuer, iban_valid, luhn_valid, ssn_valid

_DIGITS = re.compile(r"[0-9]+")
# What precedes the local part of a URL's credentials: "postgres://user:" or "https://".
_URL_USERINFO = re.compile(r"://(?:[^\s/@:]*:)?$")
# File names like icon@2x.png look like addresses; no top-level domain is an image extension.
_FILE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf"})


class EmailRecognizer:
    entity_types: tuple[str, ...] = ("EMAIL_ADDRESS",)
    score = 0.95
    # Local part at most 64 characters (RFC 5321), labels at most 63.
    _pattern = re.compile(
        r"""
        (?<![\w.%+\-])
        [\w%+\-](?:[\w.%+\-]{0,62}[\w%+\-])?
        @
        (?P<domain>(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?P<tld>[^\W\d_]{2,63}))
        (?![\w\-]|\.[^\W_])
        """,
        re.VERBOSE,
    )

    def find(self, text: str) -> Iterator[Finding]:
        # Driven by the "@"s rather than a scan for local parts, which would try every word.
        resume, at = 0, text.find("@")
        while at >= 0:
            start = _local_part_start(text, at, floor=resume)
            match = self._pattern.match(text, start) if start < at else None
            if match is None:
                at = text.find("@", at + 1)
                continue
            if self._is_mailbox(text, match):
                yield Finding("EMAIL_ADDRESS", match.start(), match.end(), self.score)
            resume, at = match.end(), text.find("@", match.end())

    @staticmethod
    def _is_mailbox(text: str, match: re.Match[str]) -> bool:
        if match.group("tld").lower() in _FILE_EXTENSIONS:
            return False
        # postgres://user:password@host and https://user@host: URL credentials, not a mailbox.
        return not _URL_USERINFO.search(text, max(0, match.start() - 200), match.start())


def _local_part_start(text: str, at: int, floor: int) -> int:
    """Where the run of local-part characters before an "@" begins, looking back at most 65."""
    start, lowest = at, max(floor, at - 65)
    while start > lowest and (text[start - 1].isalnum() or text[start - 1] in "_.%+-"):
        start -= 1
    return start


class CreditCardRecognizer:
    """12-19 digits, plain or grouped like a card is printed, Luhn-valid.

    Luhn passes one random number in ten, so the issuer range or a card word must agree: a number
    from a known IIN range scores 0.9 (1.0 next to "card"); one from an unlisted range is reported
    only next to a card word, at 0.6, since private-label and fleet cards, UATP and BIN ranges
    newer than the table are real cards too.
    """

    entity_types: tuple[str, ...] = ("CREDIT_CARD",)
    score = 0.9
    context_score = 1.0
    unknown_issuer_score = 0.6
    _candidate = re.compile(
        r"[0-9](?<![\w\-.][0-9])[0-9]{0,18}(?:[ \-][0-9]{1,19}){0,7}(?![\w]|[\-.][0-9])"
    )
    _context = ContextWords(
        ["card", "cards", "credit", "debit", "visa", "mastercard", "amex", "american express",
         "discover", "diners", "jcb", "maestro", "unionpay", "cc", "ccn", "pan", "payment"],
        before=50,
    )  # fmt: skip

    def find(self, text: str) -> Iterator[Finding]:
        for match in self._candidate.finditer(text):
            candidate = match.group(0)
            if len(candidate) < 12 or sum(c.isdigit() for c in candidate) < 12:
                continue
            offset = match.start()
            groups = [(offset + m.start(), offset + m.end()) for m in _DIGITS.finditer(candidate)]
            yield from self._cards_in(text, groups)

    def _cards_in(self, text: str, groups: list[tuple[int, int]]) -> Iterator[Finding]:
        """The longest card in a run of digit groups, then the same on either side of it.

        Runs are cut only at spaces: a dashed run is one number, and its parts are not cards.
        """
        lengths = [end - start for start, end in groups]
        digits_before = list(itertools.accumulate(lengths, initial=0))
        cuts = [i for i in range(1, len(groups)) if text[groups[i][0] - 1] == " "]
        starts, ends = [0, *cuts], [c - 1 for c in cuts] + [len(groups) - 1]
        windows = sorted(
            (
                (first, last)
                for first in starts
                for last in ends
                if first <= last and 12 <= digits_before[last + 1] - digits_before[first] <= 19
            ),
            key=lambda w: (w[0] - w[1], w[0]),
        )
        for first, last in windows:
            if not _printed_like_a_card(lengths[first : last + 1]):
                continue
            score = self._score(text, groups[first : last + 1])
            if score is not None:
                yield from self._cards_in(text, groups[:first])
                yield Finding("CREDIT_CARD", groups[first][0], groups[last][1], score)
                yield from self._cards_in(text, groups[last + 1 :])
                return

    def _score(self, text: str, groups: list[tuple[int, int]]) -> float | None:
        separators = {text[a[1] : b[0]] for a, b in itertools.pairwise(groups)}
        if len(separators) > 1:
            return None  # 4111 1111-1111 1111
        digits = "".join(text[start:end] for start, end in groups)
        if not luhn_valid(digits):
            return None
        context = self._context.near(text, groups[0][0], groups[-1][1])
        if card_issuer(digits) is not None:
            return self.context_score if context else self.score
        return self.unknown_issuer_score if context else None


def _printed_like_a_card(lengths: list[int]) -> bool:
    """One block, groups of four (the last may be shorter), or Amex/Diners 4-6-5 and 4-6-4."""
    return (
        len(lengths) == 1
        or (all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4)
        or lengths in ([4, 6, 5], [4, 6, 4])
    )


class UsSsnRecognizer:
    """AAA-GG-SSSS (dashes, spaces or dots); nine bare digits only next to an SSN word."""

    entity_types: tuple[str, ...] = ("US_SSN",)
    dashed_score = 0.6
    other_separator_score = 0.4
    bare_score = 0.5
    context_boost = 0.3
    _pattern = re.compile(
        r"([0-9](?<![\w\-.][0-9])[0-9]{2})([\-. ]?)([0-9]{2})\2([0-9]{4})(?![\w]|[\-.][0-9])"
    )
    _context = ContextWords(
        ["ssn", "ssns", "social security", "social security number", "ss#", "ss #", "ssa",
         "tax id", "taxpayer", "itin", "tin"],
        before=50,
    )  # fmt: skip

    def find(self, text: str) -> Iterator[Finding]:
        for match in self._pattern.finditer(text):
            area, separator, group, serial = match.groups()
            if not ssn_valid(area, group, serial):
                continue
            context = self._context.near(text, match.start(), match.end())
            if separator == "-":
                score = self.dashed_score
            elif separator:
                score = self.other_separator_score
            elif context:
                score = self.bare_score
            else:
                continue
            if context:
                score = round(min(1.0, score + self.context_boost), 2)
            yield Finding("US_SSN", match.start(), match.end(), score)


class IbanRecognizer:
    """Country code, check digits and BBAN, plain or in groups of four; mod-97 and length.

    IBANs are printed in capitals but typed in lower case in chats; either is accepted (mixed
    case is not an IBAN), lower case a little below printed ones.

    Every token that starts like an IBAN is tried on its own, for exactly its country's length:
    a printed IBAN's spaces make it look like the words after it, so a candidate allowed to run
    on into them would swallow the next IBAN in the text.
    """

    entity_types: tuple[str, ...] = ("IBAN_CODE",)
    score = 1.0
    lower_case_score = 0.9
    _start = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")
    # Per length: that many letters and digits, single spaces allowed between them, then a
    # token's end, so "… 00 BIC" ends at "00" while "…0012" is no IBAN at all.
    _bodies: ClassVar[dict[int, re.Pattern[str]]] = {
        length: re.compile(rf"[A-Za-z0-9](?: ?[A-Za-z0-9]){{{length - 1}}}(?![A-Za-z0-9])")
        for length in set(IBAN_LENGTHS.values())
    }

    def find(self, text: str) -> Iterator[Finding]:
        resume = 0
        for start in self._start.finditer(text):
            length = IBAN_LENGTHS.get(start.group(0)[:2].upper())
            if start.start() < resume or length is None:
                continue
            match = self._bodies[length].match(text, start.start())
            if match is None:
                continue
            iban = match.group(0)
            if not (iban.isupper() or iban.islower()):
                continue
            if iban_valid(iban.replace(" ", "").upper()):
                score = self.score if iban.isupper() else self.lower_case_score
                yield Finding("IBAN_CODE", match.start(), match.end(), score)
                resume = match.end()
