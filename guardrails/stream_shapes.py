"""Where each recognizer's candidates can lie: what a stream guard needs to know that it may let
text go while the rest of the answer is still being generated.

A recognizer looks at a whole text. To check an answer as it streams and still get exactly the
whole-text result, the guard must know, for text received so far, which findings are settled and
where a finding could still begin. Recognizers do not say that, so this module does, per entity
type, as deliberate over-estimates read off each recognizer's patterns:

- a *trigger*: where a candidate can start (or, with `back`, what follows its start closely: the
  "@" of an email address, the "://" of a URL's credentials, the stem of a secret's key name);
- how far a candidate can run from there: until a character its pattern cannot contain (`stop`),
  to the end of a loose copy of its pattern (`extent`), and never past `longest`;
- how much text around it decides its verdict: `lookahead` characters after it for the pattern's
  own lookaheads, `after` characters of context words (phone labels), `behind` characters before
  it (context words, lookbehinds).

The stretch from a candidate's earliest start to the farthest its trigger lets it run is a *zone*.
A zone is decided once its end and the text its verdict reads after it have arrived. Two facts
follow, and `stream_guard` relies on both:

1. Every finding lies inside a zone, so no finding can begin before the earliest undecided zone.
2. No candidate runs across a point that lies inside no zone, so a recognizer started there (with
   `behind` characters before it) finds exactly what it finds in the whole text after that point.
   Recognizers that scan left to right, skipping what an earlier match consumed, resynchronise
   there, however long the text before.

Each entry also names the recognizer class it was read from; a registry whose recognizer for an
entity type is not of that class gets no streaming for it (the guard then holds the answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.assignments import GenericSecretRecognizer
from guardrails.aws import AwsSecretKeyRecognizer
from guardrails.network import IpAddressRecognizer, UrlRecognizer
from guardrails.phone import PhoneRecognizer
from guardrails.pii import CreditCardRecognizer, EmailRecognizer, IbanRecognizer, UsSsnRecognizer
from guardrails.secrets import PrivateKeyRecognizer, TokenRecognizer

# The recognizer's own header pattern: which BEGIN lines open a block, and so which END line
# closes it, must be exactly the recognizer's, or the guard would let a key's body go early.
_PEM_BEGIN = PrivateKeyRecognizer._begin
_PEM_HEADER_STOP = re.compile(r"[^A-Z0-9 \-]")
URL_NEEDLES = ("://", "www.", "WWW.")
"""UrlRecognizer finds nothing in a text without one of these, even a case-insensitive "Www."."""


@dataclass(frozen=True, slots=True)
class TextSoFar:
    """The answer received so far. Positions are absolute; the buffer may have dropped a prefix
    no one reads again."""

    buffer: str
    base: int
    """The position of `buffer[0]`."""
    length: int
    url_needle_seen: bool
    """Whether one of URL_NEEDLES has arrived anywhere."""


@dataclass(frozen=True, kw_only=True)
class Shape:
    """Where one pattern of a recognizer can find candidates."""

    trigger: re.Pattern[str]
    trigger_length: int
    """The most characters a trigger match needs: one still arriving lies in the last ones."""
    back: int = 0
    """A candidate may start this many characters before its trigger, in the same run of
    non-space characters (no trigger's lead-in contains a space)."""
    longest: int | None = None
    """A candidate ends at most this many characters after its trigger starts."""
    lookahead: int = 1
    """Characters after a zone's end the pattern reads (its lookaheads, the character that ends
    it); at least 1."""
    after: int = 0
    """Characters of context read after a candidate, for zones at least `shortest` long."""
    shortest: int = 0
    behind: int = 0
    """Characters before a candidate's start that its verdict reads."""

    def reach(self, seen: TextSoFar, start: int, trigger_end: int, since: int) -> tuple[int, bool]:
        """Where a zone triggered at `start` ends, and whether more text can still move that.

        `since`: how far this zone was found to reach when last looked at (a run found unbroken
        up to there need not be searched again)."""
        raise NotImplementedError

    def needed_after(self, start: int, end: int) -> int:
        if self.after and end - start >= self.shortest:
            return max(self.lookahead, self.after)
        return self.lookahead


@dataclass(frozen=True, kw_only=True)
class RunShape(Shape):
    """Candidates run over characters that `stop` does not match, from the trigger's end on."""

    stop: re.Pattern[str]

    def reach(self, seen: TextSoFar, start: int, trigger_end: int, since: int) -> tuple[int, bool]:
        base, length = seen.base, seen.length
        limit = length if self.longest is None else min(length, start + self.longest)
        found = self.stop.search(seen.buffer, max(trigger_end, since) - base, max(0, limit - base))
        if found is not None:
            return found.start() + base, True
        if self.longest is not None and start + self.longest <= length:
            return start + self.longest, True
        return length, False


@dataclass(frozen=True, kw_only=True)
class PatternShape(Shape):
    """Candidates lie inside `extent` matched at the trigger: a loose copy of the recognizer's
    pattern built from greedy runs, so a match that ends before the text does is final."""

    extent: re.Pattern[str]

    def reach(self, seen: TextSoFar, start: int, trigger_end: int, since: int) -> tuple[int, bool]:
        matched = self.extent.match(seen.buffer, start - seen.base)
        assert matched is not None, "an extent matches wherever its trigger does"
        end = matched.end() + seen.base
        if self.longest is not None and start + self.longest <= end:
            return start + self.longest, True
        return end, end < seen.length


@dataclass(frozen=True, kw_only=True)
class UrlShape(RunShape):
    """UrlRecognizer matches "www." in any case but runs only on texts containing one of
    URL_NEEDLES, so a "Www." address stays undecided until one arrives (or the answer ends)."""

    def reach(self, seen: TextSoFar, start: int, trigger_end: int, since: int) -> tuple[int, bool]:
        end, closed = super().reach(seen, start, trigger_end, since)
        head = seen.buffer[start - seen.base : start - seen.base + 4]
        mixed_case_www = head.lower() == "www." and head not in URL_NEEDLES
        return end, closed and (seen.url_needle_seen or not mixed_case_www)


@dataclass(frozen=True, kw_only=True)
class PrivateKeyShape(Shape):
    """A BEGIN line opens a block that ends only at its END line, wherever that comes: until it
    has arrived (or the answer ends) the whole block is undecided."""

    def reach(self, seen: TextSoFar, start: int, trigger_end: int, since: int) -> tuple[int, bool]:
        buffer, base = seen.buffer, seen.base
        header = _PEM_BEGIN.match(buffer, start - base)
        if header is None:
            stop = _PEM_HEADER_STOP.search(buffer, trigger_end - base)
            return (stop.start() + base, True) if stop else (seen.length, False)
        marker = f"-----END {header.group(1)}PRIVATE KEY{header.group(2) or ''}-----"
        found = buffer.find(marker, max(header.end(), since - base - len(marker)))
        if found < 0:
            return seen.length, False
        return found + base + len(marker), True


def _run(trigger: str, stop: str, *, trigger_length: int = 1, **limits: int) -> RunShape:
    return RunShape(
        trigger=re.compile(trigger),
        trigger_length=trigger_length,
        stop=re.compile(stop),
        **limits,  # type: ignore[arg-type]
    )


# Provider tokens: a prefix, a bounded body of token characters, then a character outside them.
_TOKEN_STOP = r"[^A-Za-z0-9_\-]"


def _token(trigger: str, trigger_length: int, longest: int, stop: str = _TOKEN_STOP) -> RunShape:
    return RunShape(
        trigger=re.compile(trigger),
        trigger_length=trigger_length,
        stop=re.compile(stop),
        longest=longest,
        behind=1,
    )


# The identifier run, quote, operator or "is"/"was", then a value, each a greedy run decided by
# its first character, so the match covers every assignment the recognizer can find from a key
# name containing the stem where it starts (see assignments.py's _ASSIGNMENT).
_ASSIGNMENT_EXTENT = re.compile(
    r"""[A-Za-z_.\-]*["']?[ \t:=>]*(?:(?:is|was)[ \t]*)?
    (?:"[^"\r\n]{0,256}"?|'[^'\r\n]{0,256}'?|`[^`\r\n]{0,256}`?|[^\s"'`,;<>(){}\[\]]{0,256})""",
    re.IGNORECASE | re.VERBOSE,
)
# A phone number's body, then at most one extension word (any prefix of it, so a word still
# arriving keeps the zone open) with its digits.
_PHONE_EXTENT = re.compile(
    r"[0-9+(][0-9+(). \-]*(?:(?:e(?:x(?:t(?:e(?:n(?:s(?:i(?:on?)?)?)?)?)?)?)?|x)\.?:?\ ?[0-9]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class EntityShapes:
    recognizer: type
    """The recognizer class the shapes were read from."""
    shapes: tuple[Shape, ...]

    @property
    def behind(self) -> int:
        return max((shape.behind for shape in self.shapes), default=0)


STREAM_SHAPES: dict[str, EntityShapes] = {
    # The local part (at most 64 characters, looked for 65 back) precedes the "@"; the domain runs
    # on with any number of labels. Mailbox check: URL credentials up to 200 characters before.
    "EMAIL_ADDRESS": EntityShapes(
        EmailRecognizer,
        (_run("@", r"[^\w.\-]", back=65, behind=200),),
    ),
    # Prefix, eight groups of up to 15 digits, separators, an extension: 164 characters. Phone
    # words up to 40 characters before, labels and units up to 30 after.
    "PHONE_NUMBER": EntityShapes(
        PhoneRecognizer,
        (
            PatternShape(
                trigger=re.compile(r"[0-9+(]"),
                trigger_length=1,
                extent=_PHONE_EXTENT,
                longest=164,
                lookahead=2,
                after=30,
                shortest=7,
                behind=41,
            ),
        ),
    ),
    # Eight digit groups at most (19 digits, then 19 after each separator): 159 characters. Card
    # words up to 50 characters before.
    "CREDIT_CARD": EntityShapes(
        CreditCardRecognizer,
        (_run("[0-9]", r"[^0-9 \-]", longest=159, lookahead=2, behind=51),),
    ),
    # AAA-GG-SSSS; SSN words up to 50 characters before.
    "US_SSN": EntityShapes(
        UsSsnRecognizer,
        (_run("[0-9]", r"[^0-9 .\-]", longest=11, lookahead=2, behind=51),),
    ),
    # Country code and check digits, then up to 30 characters each after an optional space.
    "IBAN_CODE": EntityShapes(
        IbanRecognizer,
        (_run("[A-Za-z]{2}[0-9]{2}", r"[^A-Za-z0-9 ]", trigger_length=4, longest=64, behind=1),),
    ),
    "IP_ADDRESS": EntityShapes(
        IpAddressRecognizer,
        (
            # "version 1.2.3.4" is looked for 12 characters back.
            _run("[0-9]", r"[^0-9.]", longest=15, lookahead=2, behind=13),
            # Every IPv6 match opens with at most four hex digits and a colon.
            _run(
                "(?=[0-9A-Fa-f]{0,4}:)",
                r"[^0-9A-Fa-f:.]",
                trigger_length=5,
                longest=54,
                lookahead=2,
                behind=1,
            ),
        ),
    ),
    "URL": EntityShapes(
        UrlRecognizer,
        (
            UrlShape(
                trigger=re.compile(r"(?:https?|ftp)://|www\.", re.IGNORECASE),
                trigger_length=8,
                stop=re.compile(r"[\s<>\"'`]"),
                behind=1,
            ),
        ),
    ),
    # The key name (which holds "aws" or starts with "secret"), operator, quotes, the key.
    "AWS_SECRET_KEY": EntityShapes(
        AwsSecretKeyRecognizer,
        (
            PatternShape(
                trigger=re.compile("aws|secret", re.IGNORECASE),
                trigger_length=6,
                extent=re.compile(r"[\w.\-]*[\"']?[ \t:=>]*[\"']?[A-Za-z0-9/+=]*"),
            ),
        ),
    ),
    # Held from its BEGIN line until its END line (see PrivateKeyShape).
    "PRIVATE_KEY": EntityShapes(
        PrivateKeyRecognizer,
        (PrivateKeyShape(trigger=re.compile("-----BEGIN"), trigger_length=10),),
    ),
    # Provider tokens: the prefix's length, and the prefix with the most body characters its
    # pattern takes.
    "AWS_ACCESS_KEY": EntityShapes(TokenRecognizer, (_token("AKIA|ASIA", 4, 20),)),
    "GITHUB_TOKEN": EntityShapes(TokenRecognizer, (_token("gh[pousr]_|github_pat_", 11, 255),)),
    "GITLAB_TOKEN": EntityShapes(
        TokenRecognizer, (_token("gl(?:pat|dt|rt|ptt|ft|soat|cbt)-", 7, 71),)
    ),
    "SLACK_TOKEN": EntityShapes(TokenRecognizer, (_token("xox[abeoprs]-", 5, 255),)),
    "SLACK_WEBHOOK": EntityShapes(
        TokenRecognizer,
        (_token(r"https://hooks\.slack\.com/", 24, 234, stop=r"[^A-Za-z0-9_/\-]"),),
    ),
    "STRIPE_KEY": EntityShapes(TokenRecognizer, (_token("[sr]k_(?:live|test)_", 8, 255),)),
    "ANTHROPIC_API_KEY": EntityShapes(TokenRecognizer, (_token("sk-ant-", 7, 135),)),
    "OPENAI_API_KEY": EntityShapes(TokenRecognizer, (_token("sk-", 3, 261),)),
    "GOOGLE_API_KEY": EntityShapes(TokenRecognizer, (_token("AIza", 4, 39),)),
    "JWT": EntityShapes(
        TokenRecognizer,
        (
            RunShape(
                trigger=re.compile("eyJ"),
                trigger_length=3,
                stop=re.compile(r"[^A-Za-z0-9_\-.]"),
                behind=1,
            ),
        ),
    ),
    "GENERIC_SECRET": EntityShapes(
        GenericSecretRecognizer,
        (
            # Every key name holds one of these stems, at most 11 characters in
            # ("encryption_secret"); the recognizer reads one character before the name.
            PatternShape(
                trigger=re.compile("pass|pwd|secret|token|credential|key", re.IGNORECASE),
                trigger_length=10,
                back=11,
                extent=_ASSIGNMENT_EXTENT,
                behind=1,
            ),
            PatternShape(
                trigger=re.compile("bearer|token", re.IGNORECASE),
                trigger_length=6,
                extent=re.compile(r"(?:bearer|token)[ \t]*[A-Za-z0-9\-._~+/]*=*", re.IGNORECASE),
                behind=1,
            ),
            # scheme://user:password@ ; the scheme (up to 21 characters) precedes the "://".
            PatternShape(
                trigger=re.compile("://"),
                trigger_length=3,
                back=21,
                extent=re.compile(r"://[^\s:/@?#]{0,128}(?::[^\s:/@?#]{0,256}@?)?"),
                behind=1,
            ),
        ),
    ),
}


def any_trigger(shapes: list[Shape]) -> re.Pattern[str]:
    """One pattern that matches wherever any of the shapes' triggers does."""
    alternatives = [
        f"(?{'i' if shape.trigger.flags & re.IGNORECASE else ''}:{shape.trigger.pattern})"
        for shape in shapes
    ]
    return re.compile("|".join(alternatives) or "(?!)")


class ZoneTracker:
    """Follows one shape along a growing text: the zones decided so far (merged where they
    overlap) and where the earliest undecided one begins."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self._next = 0
        """Every trigger starting before this has been decided, or is `_open`."""
        self._open: tuple[int, int, int, int] | None = None
        """The earliest undecided trigger: its start, its end, its zone's start, and how far its
        zone was found to reach when last looked at."""
        self.zones: list[list[int]] = []
        """Decided zones as [start, end), merged, in order."""

    def undecided_from(self, seen: TextSoFar, word_start: int, final: bool) -> int:
        """Decide the zones that can be decided, and say where the earliest undecided one
        begins: no finding of this shape can begin before it. `word_start`: where the run of
        non-space characters at the end of the text begins (a trigger still arriving is in it).
        """
        shape, text, base, length = self.shape, seen.buffer, seen.base, seen.length
        while True:
            if self._open is None:
                found = shape.trigger.search(text, self._next - base)
                if found is None:
                    if final:
                        self._next = length
                        return length
                    self._next = max(self._next, length - shape.trigger_length + 1)
                    return min(length, max(word_start, self._next - shape.back))
                start = found.start() + base
                self._open = (start, found.end() + base, self._zone_start(text, base, start), 0)
            start, trigger_end, zone_start, since = self._open
            end, closed = shape.reach(seen, start, trigger_end, since)
            if not final and (not closed or end + shape.needed_after(start, end) > length):
                # A closed zone waits only for what follows its end: its runs must not be searched
                # past that end again.
                self._open = (start, trigger_end, zone_start, end if closed else length)
                return zone_start
            self._add_zone(zone_start, end)
            self._open = None
            self._next = start + 1

    @property
    def is_open(self) -> bool:
        return self._open is not None

    @property
    def next_trigger(self) -> int:
        """Triggers starting before this have been looked at."""
        return self._next

    def needs_text_from(self) -> int:
        """The earliest position this tracker will still read."""
        start = self._open[0] if self._open else self._next
        return max(0, start - self.shape.back - 1)

    def zone_around(self, position: int) -> int | None:
        """The start of the decided zone strictly around `position`, if any."""
        for zone_start, zone_end in reversed(self.zones):
            if zone_end <= position:
                return None
            if zone_start < position:
                return zone_start
        return None

    def meets(self, low: int, high: int) -> bool:
        """Whether a decided zone overlaps [low, high)."""
        for zone_start, zone_end in reversed(self.zones):
            if zone_end <= low:
                return False
            if zone_start < high:
                return True
        return False

    def forget_before(self, position: int) -> None:
        """Drop zones that end at or before `position`: nothing before it is asked about again."""
        keep = 0
        while keep < len(self.zones) and self.zones[keep][1] <= position:
            keep += 1
        if keep:
            del self.zones[:keep]

    def _zone_start(self, text: str, base: int, start: int) -> int:
        back = self.shape.back
        if not back:
            return start
        position, lowest = start, max(base, start - back)
        while position > lowest and not text[position - 1 - base].isspace():
            position -= 1
        return position

    def _add_zone(self, start: int, end: int) -> None:
        if self.zones and start < self.zones[-1][1]:
            self.zones[-1][1] = max(self.zones[-1][1], end)
        else:
            self.zones.append([start, end])
