"""PHONE_NUMBER: national and international numbers, told apart from the other numbers in text.

Phone numbers have no checksum, so precision comes from shape. A candidate is a run of digit
groups joined by single separators (space, dot, dash, parentheses), with an optional `+`, `00` or
`011` international prefix and an optional extension. It is reported when it has a phone's shape:

- international: a prefix and 7-15 digits, the first group a 1-3 digit country code or one
  glued to its area code (+44 20 7946 0958, +447700 900123, 001-541-754-3010);
- North American: (1) 3-3-4 digits, separated or with the area code in parentheses;
- a parenthesised area code and 8-12 digits in all: (37) 788-063;
- national trunk format: a leading 0 and 9-12 digits in groups (020 7946 0958, 030 901820);
- anything else 7-12 digits long in phone-like groups next to a word like "phone" or "call"
  before it, or a label like "office" or "fax" right after it;
- without such a word, a grouped national number (99 66 84 72, 699 956 915, 347 1234567) that
  libphonenumber (the `phonenumbers` package) accepts for one of the default regions, at a lower
  score (VALIDATED_SCORE) than any shape- or context-confirmed number.

Validation. Most national numbers have no trunk prefix, phone word or parentheses: a Spanish
mobile is "699 956 915", a Norwegian or Danish number "78 65 14 50". Their shape is shared with
amounts and IDs, so instead of a shape rule the candidate's digits are parsed for each region in
`DEFAULT_REGIONS` and kept when the number is valid there *and written as it is dialled at home*:
its digits equal those of the region's national format. That second condition matters: countries
with open numbering plans and a trunk "0" (DE, AT, FI, SE, ...) accept almost any 7-12 digits as
a number once the "0" is assumed, but nobody there writes a number without its "0". So in
practice the check confirms numbers from closed plans without a trunk prefix (NANP 10-digit, ES,
PT, IT, NO, DK, PL, MX, BR), and short trunk-prefixed ones ("030 1234") elsewhere; an Indian
mobile written without its optional "0" is not confirmed (libphonenumber's national format has
it). 7-digit local numbers without an area code ("668 5702") are valid nowhere and stay
context-only.

The default regions are where the gateway's users and their contacts are expected: North America,
the EU/EEA countries with the most speakers, the UK, Switzerland, India, Australia, Brazil,
Mexico, Japan and Israel. Adding a region with a closed plan widens what is reported (every 8-digit
number is valid somewhere), so the list is a precision/recall dial: pass `regions=` to
`PhoneRecognizer` to change it, or `regions=()` to turn validation off.

Validation only runs on candidates that passed every exclusion below, have 2-5 groups of 2-4
digits (the last may be a longer subscriber block, "347 1234567"), one kind of separator, and no
quantity, ID or address word before ("total", "population", "code", "apt") or unit or street type
after ("people", "km", "EUR", "St", "Avenue"): a number that counts something, or a postcode and
house number, is not a phone whatever libphonenumber says. Runs of years ("2019 2020") and
dot-grouped thousands ("12.345.678") are never validated. Parsing uses the region as a hint on the
bare digits (no matcher over the text), skips regions whose possible lengths or whole-plan
pattern exclude the number, and is memoised per digit string within one `find` call (not across
calls, so no phone number outlives the request that carried it).

Dates, ZIP+4 codes, SSNs, IPv4 addresses, thousands-separated amounts, version numbers and tokens
glued to other characters (INV-2024-001234, #123456789) are not phone numbers. Numbers next to
"order", "invoice", "account" and the like are dropped unless a phone word is there too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import phonenumbers

from guardrails.context import ContextWords
from guardrails.findings import Finding

ENTITY = "PHONE_NUMBER"

_GROUP = r"(?:\([0-9]{1,5}\)|[0-9]{1,15})"
# A separator is one dot or dash (optionally spaced), one space, or nothing right after a ")".
_SEPARATOR = r"(?:\ ?[.\-]\ ?|\ |(?<=\)))"
_CANDIDATE = re.compile(
    rf"""
    (?=[0-9+(])  # lets the engine skip ahead to candidates before running the lookbehind
    # Not glued to a word, an order "#", an amount, a path, or a longer dotted or dashed number.
    (?<![\w#$€£¥%&@/\\.+\-])
    (?P<prefix>\+\ ?|(?:011|00)[ .\-]?(?=[1-9(]))?
    (?P<body>{_GROUP}(?:{_SEPARATOR}{_GROUP}){{0,7}})
    (?P<extension>\ ?(?:ext(?:ension)?\.?:?|x)\ ?[0-9]{{1,6}})?
    (?![\w]|[.\-/:][0-9])
    """,
    re.VERBOSE | re.IGNORECASE,
)
_GROUP_TOKEN = re.compile(r"\(?([0-9]+)\)?")
_DATE_SEPARATORS = frozenset("-./ ")

_PHONE_WORDS = ContextWords(
    [
        "phone", "phones", "telephone", "tel", "ph", "call", "calls", "called", "calling",
        "mobile", "mob", "cell", "cellphone", "fax", "dial", "whatsapp", "sms", "text me",
        "hotline", "contact", "reach", "ring", "tél", "telefon",
    ],
    before=40,
)  # fmt: skip
# Contact blocks and signatures label a number after it: "555 1234 (office)", "...-Fax".
_LABEL_WORDS = ContextWords(
    ["office", "home", "work", "mobile", "cell", "fax", "desk", "direct", "landline", "phone"],
    before=0,
    after=12,
)
# Checked only just before the number: "order" two sentences back says nothing about it.
_NOT_PHONE_WORDS = ContextWords(
    ["order", "invoice", "inv", "ref", "reference", "tracking", "account", "acct", "isbn",
     "serial", "sku", "id", "case", "ticket", "version", "ssn", "zip", "postcode"],
    before=20,
)  # fmt: skip

# Words that make a grouped number a quantity, an identifier or part of an address, checked only
# before validating: shape- and context-confirmed numbers are judged as above. "number" itself is
# not here: "my number is 699 956 915" is how people give their phone.
_NOT_VALIDATED_BEFORE = ContextWords(
    ["value", "total", "totals", "amount", "sum", "balance", "price", "cost", "costs", "budget",
     "revenue", "revenues", "salary", "income", "profit", "loss", "population", "count", "score",
     "votes", "weight", "distance", "volume", "size", "no", "nr", "code", "pin", "otp", "policy",
     "claim", "contract", "membership", "passport", "licence", "license", "registration",
     "receipt", "transaction", "booking", "reservation", "confirmation", "voucher", "batch",
     "lot", "model", "part", "postal", "address", "apt", "apartment", "suite", "unit", "flat",
     "€", "$", "£", "¥", "eur", "usd", "gbp", "chf", "nok", "dkk", "sek", "kr", "pln", "inr",
     "brl", "mxn", "jpy"],
    before=25,
    same_line=True,
)  # fmt: skip
# Units after a count, and street types after a house number or postcode ("3536 1659 Hoog St").
# Common verbs and prepositions ("place", "via", "times") would drop "612 345 678 via WhatsApp".
_NOT_VALIDATED_AFTER = ContextWords(
    ["people", "persons", "inhabitants", "residents", "citizens", "users", "visitors", "customers",
     "employees", "members", "votes", "views", "downloads", "units", "items", "pieces", "copies",
     "km", "kilometres", "kilometers", "miles", "kg", "tonnes", "tons", "bytes", "kb", "mb", "gb",
     "eur", "euro", "euros", "usd", "dollars", "gbp", "pounds", "chf", "nok", "dkk", "sek", "pln",
     "kr", "zł", "yen", "inr", "rupees", "reais", "pesos", "€", "$", "£", "%", "street", "st",
     "avenue", "ave", "road", "rd", "drive", "lane", "ln", "square", "sq", "boulevard", "blvd",
     "terrace", "crescent", "highway", "hwy", "parkway", "str", "strasse", "straße", "gasse",
     "vej", "gade", "calle", "rue", "suite", "apt"],
    before=0,
    after=30,
    same_line=True,
)  # fmt: skip
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")

DEFAULT_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "IE",
    "PT", "PL", "IN", "AU", "BR", "MX", "JP", "IL",
)  # fmt: skip
"""Regions a bare national number is validated against (see the module docstring)."""

INTERNATIONAL_SCORE = 0.6
NATIONAL_SCORE = 0.5
VALIDATED_SCORE = 0.45
CONTEXT_ONLY_SCORE = 0.4
CONTEXT_BOOST = 0.3


class _Shape(NamedTuple):
    score: float
    needs_context: bool


_INTERNATIONAL = _Shape(INTERNATIONAL_SCORE, needs_context=False)
_NATIONAL = _Shape(NATIONAL_SCORE, needs_context=False)
# Too ambiguous alone (short local numbers, bare digit runs, 3-3-3 groups): only by a phone word.
_CONTEXT_ONLY = _Shape(CONTEXT_ONLY_SCORE, needs_context=True)


@dataclass(frozen=True, slots=True)
class _Group:
    digits: str
    start: int
    end: int
    parenthesised: bool


class _Region(NamedTuple):
    code: str
    national_prefix: str
    lengths: frozenset[int]
    """Possible lengths of the national significant number (without the trunk prefix)."""
    general: re.Pattern[str] | None
    """Every valid national significant number matches it; None where the trunk prefix is more
    than a fixed string (carrier codes in BR, JP, AU, GB), so the cheap test would not be exact."""


class PhoneRecognizer:
    entity_types: tuple[str, ...] = (ENTITY,)

    def __init__(self, regions: Iterable[str] = DEFAULT_REGIONS) -> None:
        """`regions`: ISO 3166 codes a bare national number is validated against; () for none."""
        self.regions: tuple[_Region, ...] = tuple(_region(code) for code in regions)

    def find(self, text: str) -> Iterator[Finding]:
        validated: dict[str, bool] = {}  # digits -> verdict, for this text only
        for match in _CANDIDATE.finditer(text):
            # Most numbers in text are years, counts and prices: far too short to be a phone.
            if match.end() - match.start() < 7:
                continue
            finding = self._judge(text, match, validated)
            if finding is not None:
                yield finding

    def _judge(self, text: str, match: re.Match[str], validated: dict[str, bool]) -> Finding | None:
        body_start = match.start("body")
        groups = [
            _Group(m.group(1), body_start + m.start(), body_start + m.end(), m.group(0)[0] == "(")
            for m in _GROUP_TOKEN.finditer(match.group("body"))
        ]
        prefix = match.group("prefix")
        extension_end = match.end("extension") if match.group("extension") else None
        # Try the whole run, then runs trimmed at a space: "555-123-4567 2 times".
        for first, last in _windows(text, groups):
            window = groups[first : last + 1]
            window_prefix = prefix if first == 0 else None
            shape = _shape(text, window, window_prefix)
            if shape is None:
                continue
            start = match.start() if window_prefix is not None else window[0].start
            has_extension = last == len(groups) - 1 and extension_end is not None
            end = extension_end if has_extension and extension_end else window[-1].end
            score = _with_context(text, start, end, shape)
            if score is None and shape.needs_context and window_prefix is None:
                score = self._validated_score(text, window, start, end, validated)
            if score is not None:
                return Finding(ENTITY, start, end, score)
        return None

    def _validated_score(
        self, text: str, groups: list[_Group], start: int, end: int, validated: dict[str, bool]
    ) -> float | None:
        """VALIDATED_SCORE for a grouped number valid as written in a region, else None."""
        if not self.regions or not _validatable(text, groups):
            return None
        if _NOT_PHONE_WORDS.near(text, start, end) or _NOT_VALIDATED_BEFORE.near(text, start, end):
            return None
        if _NOT_VALIDATED_AFTER.near(text, start, end):
            return None
        digits = "".join(g.digits for g in groups)
        verdict = validated.get(digits)
        if verdict is None:
            verdict = validated[digits] = any(_valid_as_written(digits, r) for r in self.regions)
        return VALIDATED_SCORE if verdict else None


def _region(code: str) -> _Region:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(code.upper())
    if metadata is None or metadata.general_desc is None:
        raise ValueError(f"unknown phone region {code!r}")
    lengths = frozenset(metadata.general_desc.possible_length or ())
    prefix = metadata.national_prefix or ""
    simple_prefix = (
        metadata.national_prefix_for_parsing in (None, "", prefix)
        and not metadata.national_prefix_transform_rule
    )
    pattern = metadata.general_desc.national_number_pattern
    general = re.compile(pattern) if simple_prefix and pattern else None
    return _Region(code.upper(), prefix, lengths, general)


def _validatable(text: str, groups: list[_Group]) -> bool:
    """A grouped national number worth asking libphonenumber about (see the module docstring)."""
    if not 2 <= len(groups) <= 5 or any(g.parenthesised for g in groups):
        return False
    lengths = [len(g.digits) for g in groups]
    if min(lengths) < 2 or max(lengths[:-1]) > 4 or lengths[-1] > 8:
        return False  # a 5-digit lead is a postcode or house number: "17151 2450 Crown St"
    separators = {text[a.end : b.start] for a, b in itertools.pairwise(groups)}
    if len(separators) != 1:
        return False
    if all(_YEAR.fullmatch(g.digits) for g in groups):
        return False  # "2019 2020", "2000-2024"
    return not (separators == {"."} and all(n == 3 for n in lengths[1:]))  # 12.345.678


def _valid_as_written(digits: str, region: _Region) -> bool:
    """Valid in the region, and these are the digits one dials there (trunk prefix included)."""
    prefix = region.national_prefix
    significant = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
    if len(significant) not in region.lengths:
        return False
    # The region's whole plan as one pattern: most candidates fail here, before parsing. parse()
    # strips the prefix only sometimes, so either reading of the digits may be the number.
    general = region.general
    if general is not None and not (general.fullmatch(significant) or general.fullmatch(digits)):
        return False
    try:
        number = phonenumbers.parse(digits, region.code)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number_for_region(number, region.code):
        return False
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in national if c.isdigit()) == digits


def _windows(text: str, groups: list[_Group]) -> Iterator[tuple[int, int]]:
    """The whole run first, then the longest sub-runs that begin and end at a plain space.

    Only sub-runs with their own dashes, dots or parentheses are tried, so a space-grouped card
    or IBAN is never cut into a phone-sized piece.
    """
    last_group = len(groups) - 1
    yield 0, last_group
    run = text[groups[0].start : groups[-1].end]
    if "-" not in run and "." not in run and "(" not in run:
        return
    cuts = [i for i in range(1, len(groups)) if text[groups[i - 1].end : groups[i].start] == " "]
    digits_before = list(itertools.accumulate((len(g.digits) for g in groups), initial=0))
    starts, ends = [0, *cuts], [c - 1 for c in cuts] + [last_group]
    windows = [
        (first, last)
        for first in starts
        for last in ends
        if first < last
        and (first, last) != (0, last_group)
        and 7 <= digits_before[last + 1] - digits_before[first] <= 15
    ]
    windows.sort(key=lambda fl: (fl[0] - fl[1], fl[0]))
    for first, last in windows:
        inner = text[groups[first].start : groups[last].end]
        if "-" in inner or "." in inner or "(" in inner:
            yield first, last


def _with_context(text: str, start: int, end: int, shape: _Shape) -> float | None:
    if _PHONE_WORDS.near(text, start, end) or _LABEL_WORDS.near(text, start, end):
        return round(min(1.0, shape.score + CONTEXT_BOOST), 2)
    if shape.needs_context or _NOT_PHONE_WORDS.near(text, start, end):
        return None
    return shape.score


def _shape(text: str, groups: list[_Group], prefix: str | None) -> _Shape | None:
    """What the shape alone says, or None for "not a phone number" whatever the context."""
    if any(g.parenthesised for g in groups[2:]):
        return None
    digits = [g.digits for g in groups]
    if prefix is not None:
        return _international_shape(digits, groups, prefix)
    separators = [text[a.end : b.start] for a, b in itertools.pairwise(groups)]
    return _national_shape(digits, separators, groups[0].parenthesised)


def _international_shape(digits: list[str], groups: list[_Group], prefix: str) -> _Shape | None:
    # "(0)" is the trunk prefix dialled only from inside the country: not part of the number.
    significant = [
        d for d, g in zip(digits, groups, strict=True) if not (g.parenthesised and d == "0")
    ]
    count = sum(len(d) for d in significant)
    if not 7 <= count <= 15:
        return None
    if len(groups) == 1:
        # Unseparated E.164 ("+14155552671") only with "+": "00" + digits is usually an ID.
        return _INTERNATIONAL if prefix.startswith("+") and count >= 8 else None
    if len(digits[0]) > 6 and not groups[0].parenthesised:
        return None  # a 1-3 digit country code, at most glued to its area code: +447700 900123
    return _INTERNATIONAL


def _national_shape(
    digits: list[str], separators: list[str], area_code_in_parentheses: bool
) -> _Shape | None:
    count = sum(len(d) for d in digits)
    if not 7 <= count <= 12:
        return None
    if len(digits) == 1:
        return _CONTEXT_ONLY if count >= 10 else None
    lengths = [len(d) for d in digits]
    separator_kinds = {s.strip() or s for s in separators}
    if _is_other_number(digits, separator_kinds, lengths):
        return None
    if any(n == 1 for n in lengths[1:]) or any(n > 5 for n in lengths[:-1]) or lengths[-1] > 8:
        return None  # versions, ISBNs and long IDs; "0176 12345678" keeps its long tail
    if lengths[0] == 1 and digits[0] not in ("0", "1"):
        return None
    if _is_amount(lengths, separator_kinds):
        return _CONTEXT_ONLY  # "1 234 567" and "12.345.678"; Spain's 912 345 678 needs a word
    if area_code_in_parentheses and count >= 8 and lengths[0] >= 2:
        return _NATIONAL  # "(37) 788-063": a parenthesised area code is a phone's mark
    north_american = lengths in ([3, 3, 4], [1, 3, 3, 4]) and (lengths[0] != 1 or digits[0] == "1")
    if count >= 9 and (north_american or digits[0].startswith("0")):
        if separator_kinds == {" "} and all(n == 4 for n in lengths):
            return _CONTEXT_ONLY  # "2019 2020 2021"
        return _NATIONAL
    return _CONTEXT_ONLY


def _is_other_number(digits: list[str], separator_kinds: set[str], lengths: list[int]) -> bool:
    """Dates, ZIP+4 codes, SSNs and IPv4 addresses share phones' digits and separators."""
    if len(separator_kinds) != 1:
        return False
    if len(digits) == 3 and separator_kinds <= _DATE_SEPARATORS and _is_date(digits):
        return True
    if lengths == [5, 4] and separator_kinds == {"-"}:
        return True  # ZIP+4
    if lengths == [3, 2, 4] and separator_kinds <= {"-", " "}:
        return True  # SSN
    return (
        separator_kinds == {"."}
        and len(digits) == 4
        and all(n <= 3 and int(d) <= 255 for d, n in zip(digits, lengths, strict=True))
    )


def _is_amount(lengths: list[int], separator_kinds: set[str]) -> bool:
    return lengths[0] <= 3 and all(n == 3 for n in lengths[1:]) and "-" not in separator_kinds


def _is_date(digits: list[str]) -> bool:
    a, b, c = (int(d) for d in digits)
    if len(digits[0]) == 4:
        return 1 <= b <= 12 and 1 <= c <= 31
    if len(digits[2]) in (2, 4):
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False
