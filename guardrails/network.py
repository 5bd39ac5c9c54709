"""Network identifiers: IP_ADDRESS (IPv4 and IPv6) and URL.

Addresses are validated by the standard library's ipaddress module rather than by a regex that
tries to encode 0-255 and every IPv6 compression form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import ClassVar

from guardrails.findings import Finding

# Every IPv6 address has two colons with at most four hex digits between them; prose rarely does.
_HEX_COLON_HEX = re.compile(r":[0-9A-Fa-f]{0,4}:")
# "version 1.2.3.4" and "v1.2.3.4" are four-part versions, not hosts.
_VERSION_BEFORE = re.compile(r"(?<!\w)(?:version|ver|v|release|build|firmware)[ .:]*$", re.I)


class UrlRecognizer:
    """http(s) and ftp URLs and bare www. hosts.

    Scored low on purpose: a card number, email or IP inside a URL is the more specific finding,
    and resolve_overlaps keeps the higher score.
    """

    entity_types: tuple[str, ...] = ("URL",)
    score = 0.5
    _pattern = re.compile(r"(?<![\w@.\-/])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
    _trailing = ".,;:!?*'\""
    _closers: ClassVar[dict[str, str]] = {")": "(", "]": "[", "}": "{"}

    def find(self, text: str) -> Iterator[Finding]:
        # A quick check that never rejects what the case-insensitive pattern would find ("Www.").
        if "://" not in text and "www." not in text.lower():
            return
        for match in self._pattern.finditer(text):
            url = match.group(0)[: self._trimmed_end(match.group(0))]
            if not url.endswith(("://", "www.")):
                yield Finding("URL", match.start(), match.start() + len(url), self.score)

    def _trimmed_end(self, url: str) -> int:
        """Drop sentence punctuation and unbalanced closing brackets: "(see http://a.io/x)."."""
        end = len(url)
        while end:
            last = url[end - 1]
            opener = self._closers.get(last)
            if last in self._trailing or (
                opener and url.count(opener, 0, end) < url.count(last, 0, end)
            ):
                end -= 1
            else:
                break
        return end


class IpAddressRecognizer:
    """IPv4 and IPv6 (full, compressed, with an embedded IPv4), validated by `ipaddress`."""

    entity_types: tuple[str, ...] = ("IP_ADDRESS",)
    score = 0.8
    # Not part of a longer dotted number: 1.2.3.4.5 is a version or an OID. The pattern opens
    # with its first character's class and only then looks behind: a leading class lets the
    # engine skip ahead to digits, a leading lookbehind would have it try every position.
    _v4 = re.compile(
        r"[0-9](?<![\w.][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?![\w]|\.[0-9])"
    )
    _v6 = re.compile(
        r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
        r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![\w:]|\.[0-9])"
    )

    def find(self, text: str) -> Iterator[Finding]:
        if "." in text:
            for match in self._v4.finditer(text):
                if self._is_ip(match.group(0)) and not _VERSION_BEFORE.search(
                    text, max(0, match.start() - 12), match.start()
                ):
                    yield Finding("IP_ADDRESS", match.start(), match.end(), self.score)
        if _HEX_COLON_HEX.search(text):
            for match in self._v6.finditer(text):
                if self._plausible_v6(match.group(0)):
                    yield Finding("IP_ADDRESS", match.start(), match.end(), self.score)

    @staticmethod
    def _is_ip(candidate: str) -> bool:
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return False
        return True

    @classmethod
    def _plausible_v6(cls, candidate: str) -> bool:
        # "a::b", "x[1::2]" and "::1" are valid addresses but far more often code: ask for at
        # least two groups and four hex digits, or an embedded IPv4.
        groups = [g for g in candidate.split(":") if g]
        hex_digits = sum(len(g) for g in groups if "." not in g)
        plausible = "." in candidate or (len(groups) >= 2 and hex_digits >= 4)
        return plausible and cls._is_ip(candidate)
