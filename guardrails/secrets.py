"""Credentials with a recognisable form: provider tokens, private keys, JWTs, AWS secret keys.

Entity types (stable; policies and outcome rows refer to them):

- AWS_ACCESS_KEY: AKIA... / ASIA... access key ids.
- AWS_SECRET_KEY: the 40-character secret, only where it is assigned to an AWS secret key name.
- PRIVATE_KEY: a PEM or OpenSSH private key, the whole block from BEGIN to END (or to the end of
  its base64 body when the paste was cut off).
- GITHUB_TOKEN: ghp_, gho_, ghu_, ghs_, ghr_ and fine-grained github_pat_ tokens.
- GITLAB_TOKEN: glpat- and the other gl*- token families.
- SLACK_TOKEN: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe- tokens.
- SLACK_WEBHOOK: https://hooks.slack.com/services/... URLs.
- STRIPE_KEY: sk_live_, rk_live_, sk_test_, rk_test_ secret and restricted keys.
- OPENAI_API_KEY: sk-..., sk-proj-..., sk-svcacct-..., sk-admin-... keys.
- ANTHROPIC_API_KEY: sk-ant-api03-... and sk-ant-admin01-... keys (this is an AI gateway).
- GOOGLE_API_KEY: AIza + 35 characters.
- JWT: three base64url segments whose header decodes to a JSON object with "alg".

Provider prefixes make these near-certain, so they score 0.9-1.0 and win overlaps against the
lower-scored GENERIC_SECRET (assignments.py) for the same value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from guardrails.findings import Finding

# Tokens end where base64url-ish characters end; a longer run is some other identifier.
_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"


@dataclass(frozen=True, slots=True)
class TokenPattern:
    pattern: re.Pattern[str]
    score: float
    needles: tuple[str, ...]
    """Literals of which every match contains one: texts without any skip the regex entirely."""
    validate: Callable[[str], bool] | None = None


class TokenRecognizer:
    """One entity type, one or more prefixed token patterns."""

    def __init__(self, entity_type: str, patterns: list[TokenPattern]) -> None:
        self.entity_types: tuple[str, ...] = (entity_type,)
        self._patterns = patterns

    def find(self, text: str) -> Iterator[Finding]:
        for token in self._patterns:
            if not any(needle in text for needle in token.needles):
                continue
            for match in token.pattern.finditer(text):
                if token.validate is None or token.validate(match.group(0)):
                    yield Finding(self.entity_types[0], match.start(), match.end(), token.score)


def _token(
    body: str,
    score: float,
    needles: tuple[str, ...],
    validate: Callable[[str], bool] | None = None,
) -> TokenPattern:
    return TokenPattern(re.compile(_START + body + _END), score, needles, validate)


def _random_looking(token: str) -> bool:
    """Real keys are random: digits and both cases, and few dashes or underscores.

    "sk-my-very-long-hyphenated-Identifier-2024" has all three classes but a dash every few
    characters; a random base64url body has one about every 32.
    """
    body = token[3:]
    separators = body.count("-") + body.count("_")
    return (
        any(c.isdigit() for c in body)
        and any(c.isupper() for c in body)
        and any(c.islower() for c in body)
        and separators <= len(body) * 0.1
    )


def _jwt_header_has_alg(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


class PrivateKeyRecognizer:
    """A PEM/OpenSSH/PGP private key block, reported whole: every line of it is the secret."""

    entity_types: tuple[str, ...] = ("PRIVATE_KEY",)
    score = 1.0
    _begin = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY( BLOCK)?-----")
    # For a block cut off before its END line: header lines ("Proc-Type: 4,ENCRYPTED"), base64
    # runs of 16 or more (line-wrapped or flattened onto one line), and a short last line.
    _body = re.compile(
        r"(?:\r?\n[A-Za-z\-]+: [^\r\n]*"
        r"|\s+[A-Za-z0-9+/]{16,}={0,2}"
        r"|\r?\n[A-Za-z0-9+/]+={0,2}(?=[ \t]*(?:\r?\n|$)))*"
    )

    def find(self, text: str) -> Iterator[Finding]:
        if "PRIVATE KEY" not in text:
            return
        position, end_markers_left = 0, True
        while (begin := self._begin.search(text, position)) is not None:
            end = -1
            if end_markers_left:
                marker = f"-----END {begin.group(1)}PRIVATE KEY{begin.group(2) or ''}-----"
                end = text.find(marker, begin.end())
                # No END after this BEGIN means none after any later BEGIN: stop searching,
                # which keeps a text full of BEGIN lines linear.
                end_markers_left = end >= 0
                end = end + len(marker) if end >= 0 else -1
            if end < 0:
                body = self._body.match(text, begin.end())
                end = body.end() if body else begin.end()
            yield Finding("PRIVATE_KEY", begin.start(), end, self.score)
            position = end


_GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
_GITLAB_PREFIXES = ("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-")
_SLACK_WEBHOOK = (
    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,200}(?<!/)"
)


def token_recognizers() -> list[TokenRecognizer]:
    return [
        TokenRecognizer(
            "AWS_ACCESS_KEY", [_token(r"(?:AKIA|ASIA)[A-Z0-9]{16}", 0.95, ("AKIA", "ASIA"))]
        ),
        TokenRecognizer(
            "GITHUB_TOKEN",
            [
                _token(r"gh[pousr]_[A-Za-z0-9]{36,251}", 0.95, _GITHUB_PREFIXES),
                _token(r"github_pat_[A-Za-z0-9_]{22,244}", 0.95, ("github_pat_",)),
            ],
        ),
        TokenRecognizer(
            "GITLAB_TOKEN",
            [
                _token(
                    r"gl(?:pat|dt|rt|ptt|ft|soat|cbt)-[A-Za-z0-9_\-]{20,64}", 0.95, _GITLAB_PREFIXES
                )
            ],
        ),
        TokenRecognizer(
            "SLACK_TOKEN", [_token(r"xox[abeoprs]-[A-Za-z0-9\-]{10,250}", 0.95, ("xox",))]
        ),
        TokenRecognizer("SLACK_WEBHOOK", [_token(_SLACK_WEBHOOK, 0.95, ("hooks.slack.com",))]),
        TokenRecognizer(
            "STRIPE_KEY",
            [
                _token(r"[sr]k_live_[A-Za-z0-9]{20,247}", 0.95, ("k_live_",)),
                # Test keys reach only test data, but they are still credentials.
                _token(r"[sr]k_test_[A-Za-z0-9]{20,247}", 0.8, ("k_test_",)),
            ],
        ),
        TokenRecognizer(
            "ANTHROPIC_API_KEY",
            [_token(r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,120}", 0.95, ("sk-ant-",))],
        ),
        TokenRecognizer(
            "OPENAI_API_KEY",
            [
                _token(
                    r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,250}",
                    0.9,
                    ("sk-",),
                    _random_looking,
                )
            ],
        ),
        TokenRecognizer("GOOGLE_API_KEY", [_token(r"AIza[A-Za-z0-9_\-]{35}", 0.95, ("AIza",))]),
        TokenRecognizer(
            "JWT",
            [
                _token(
                    r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
                    0.95,
                    ("eyJ",),
                    _jwt_header_has_alg,
                )
            ],
        ),
    ]
