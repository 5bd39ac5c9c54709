"""GENERIC_SECRET: a value assigned to a credential-named key, a bearer token, a URL's password.

Covers `password=...`, `"api_key": "..."`, `token: ...`, `DB_PASSWORD='...'`, `secret := ...`,
prose like "my password is Tr0ub4dor&3", `Authorization: Bearer ...` and
`postgres://user:password@host`. Only the value is reported, never the key.

Scoring, decided: every literal value is reported, because a weak password is still a live
credential and the one most likely to be reused. The score says how sure we are that the value is
a real secret rather than a word:

- HIGH_ENTROPY_SCORE (0.75) when the value looks random: Shannon entropy of at least 3.0 bits per
  character over at least 10 characters mixing two or more character classes (lower, upper,
  digits, symbols), or 3.5 bits over 20 characters of any kind;
- LOW_ENTROPY_SCORE (0.35) otherwise ("changeme", "hunter2", "password"): a policy that redacts
  above 0.5 leaves these alone, one that redacts everything catches them.

Not reported: placeholders and references rather than values (`${DB_PASSWORD}`, `{{ token }}`,
`<your-api-key>`, `os.environ[...]`, `settings.SECRET_KEY`, `password=password`, `None`, `****`),
values shorter than 4 characters, and in prose ("the password is ...") plain words, which are
far more often "required" or "incorrect" than a password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from guardrails.findings import Finding
from guardrails.validators import shannon_entropy

ENTITY = "GENERIC_SECRET"
HIGH_ENTROPY_SCORE = 0.75
LOW_ENTROPY_SCORE = 0.35
MIN_VALUE_LENGTH = 4

_VALUE = r"""
    (?:"(?P<double>[^"\r\n]{1,256})"
      |'(?P<single>[^'\r\n]{1,256})'
      |`(?P<backtick>[^`\r\n]{1,256})`
      |(?P<bare>[^\s"'`,;<>(){}\[\]]{1,256}))
"""
# Every keyword contains one of these stems; most texts contain none and skip the regexes.
_KEYWORD_STEMS = ("pass", "pwd", "secret", "token", "credential", "key")
_KEYWORD = r"""
    passphrase|password|passwd|pass|pwd|secret|token|credentials?|apikey
    |(?:api|access|private|secret|auth|signing|encryption|master|client)[_.\-]?(?:key|secret)
"""
# Every place a keyword starts in the lower-cased text, where a plain alternation of literals is
# fast; the full case-insensitive assignment pattern then runs only there.
_KEYWORD_STARTS = re.compile(rf"(?=(?:{_KEYWORD}))", re.VERBOSE)
_ASSIGNMENT = re.compile(
    rf"""
    (?P<keyword>{_KEYWORD})
    ["']?
    (?:[ \t]{{0,5}}(?::=|=>|==|=|:)[ \t]{{0,5}}|(?P<prose>[ \t]+(?:is|was)[ \t]+))
    {_VALUE}
    """,
    re.VERBOSE | re.IGNORECASE,
)
_BEARER = re.compile(r"(?<![\w-])(?:bearer|token)[ \t]+(?P<bare>[A-Za-z0-9\-._~+/]{16,}=*)", re.I)
_URL_PASSWORD = re.compile(
    r"(?<![\w+.\-])[a-z][a-z0-9+.\-]{1,20}://[^\s:/@?#]{1,128}:(?P<bare>[^\s:/@?#]{1,256})@", re.I
)
_REFERENCE = re.compile(
    r"""^[$%<{]|\$\{|\{\{|%\(|environ|getenv|process\.env|\byour\b|your[_\-]|[_\-]here$
       |^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$""",
    re.VERBOSE | re.IGNORECASE,
)
_NOT_VALUES = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "str", "string", "int", "bytes",
     "optional", "any", "secretstr", "redacted", "hidden", "masked", "placeholder", "required",
     "empty", "na", "n/a"}
)  # fmt: skip


class GenericSecretRecognizer:
    entity_types: tuple[str, ...] = (ENTITY,)

    def find(self, text: str) -> Iterator[Finding]:
        lowered = text.lower()
        # The quick checks read the lower-cased text, which agrees with the case-insensitive
        # patterns only in ASCII (a long s, U+017F, and the Kelvin sign match them too): others skip
        # the checks, so that what is found never depends on a character far from it.
        ascii_only = text.isascii()
        if not ascii_only or any(stem in lowered for stem in _KEYWORD_STEMS):
            yield from self._assignments(text, lowered if ascii_only else None)
        if not ascii_only or "bearer" in lowered or "token" in lowered:
            yield from self._bearer_tokens(text)
        if "://" in text:
            yield from self._url_passwords(text)

    def _assignments(self, text: str, lowered: str | None) -> Iterator[Finding]:
        for match in _assignment_matches(text, lowered):
            if not _keyword_starts_key_part(text, match.start("keyword")):
                continue
            finding = _value_finding(text, match, keyword=match.group("keyword"))
            plain_word = finding is not None and text[finding.start : finding.end].isalpha()
            if finding is not None and not (match.group("prose") and plain_word):
                yield finding

    def _bearer_tokens(self, text: str) -> Iterator[Finding]:
        for match in _BEARER.finditer(text):
            finding = _value_finding(text, match, keyword=None)
            # "token" followed by a long word is prose; only a random-looking value is a token.
            if finding is not None and finding.score == HIGH_ENTROPY_SCORE:
                yield finding

    def _url_passwords(self, text: str) -> Iterator[Finding]:
        resume, separator = 0, text.find("://")
        while separator >= 0:
            scheme_start = separator
            while scheme_start > max(resume, separator - 21) and (
                text[scheme_start - 1].isalnum() or text[scheme_start - 1] in "+.-"
            ):
                scheme_start -= 1
            match = _URL_PASSWORD.match(text, scheme_start)
            if match is not None:
                finding = _value_finding(text, match, keyword=None)
                if finding is not None:
                    yield finding
                resume = match.end()
            separator = text.find("://", max(resume, separator + 3))


def _assignment_matches(text: str, lowered: str | None) -> Iterator[re.Match[str]]:
    """What `_ASSIGNMENT.finditer(text)` finds; with the lower-cased ASCII text, faster: the
    pattern is tried only where a keyword starts, overlapping ones included ("access_secretkey"
    holds "access_secret" and "secretkey")."""
    if lowered is None:
        yield from _ASSIGNMENT.finditer(text)
        return
    resume = 0
    for keyword in _KEYWORD_STARTS.finditer(lowered):
        if keyword.start() < resume:
            continue
        match = _ASSIGNMENT.match(text, keyword.start())
        if match is not None:
            resume = match.end()
            yield match


def _keyword_starts_key_part(text: str, start: int) -> bool:
    """A keyword must begin a part of the key: db_password, dbPassword, PASSWORD; not bypass."""
    if start == 0 or not text[start - 1].isalnum():
        return True
    return text[start - 1].islower() and text[start].isupper()


def _value_finding(text: str, match: re.Match[str], keyword: str | None) -> Finding | None:
    groups = match.groupdict()
    name = next(g for g in ("double", "single", "backtick", "bare") if groups.get(g) is not None)
    start, end = match.span(name)
    if name == "bare":
        if text[end : end + 1] in ("(", "["):
            return None  # a call or subscript: get_secret(...), os.environ[...]
        if text[end - 1] in ".!?:" and text[end : end + 1] in ("", " ", "\n", "\r"):
            end -= 1  # sentence punctuation after a bare value
    value = text[start:end]
    if not _is_literal(value, keyword if name == "bare" else None):
        return None
    return Finding(ENTITY, start, end, secret_score(value))


def _is_literal(value: str, bare_keyword: str | None) -> bool:
    if len(value) < MIN_VALUE_LENGTH or len(set(value)) == 1:
        return False
    lowered = value.lower()
    if lowered in _NOT_VALUES or _REFERENCE.search(value):
        return False
    # A bare value named like the key is a variable being passed on: password=password,
    # token=access_token.
    return not (bare_keyword and lowered.endswith(bare_keyword.lower().replace("-", "_")))


def secret_score(value: str) -> float:
    return HIGH_ENTROPY_SCORE if looks_random(value) else LOW_ENTROPY_SCORE


def looks_random(value: str) -> bool:
    entropy = shannon_entropy(value)
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return (len(value) >= 10 and entropy >= 3.0 and classes >= 2) or (
        len(value) >= 20 and entropy >= 3.5
    )
