"""AWS_SECRET_KEY: the 40-character secret access key, recognisable only by what it is assigned to.

The key itself is 40 base64 characters, a shape countless hashes and IDs share, so it is reported
only after a name that says it is an AWS secret: aws_secret_access_key, AWS_SECRET_KEY,
"SecretAccessKey" in JSON, secret_access_key in ~/.aws/credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from guardrails.findings import Finding
from guardrails.validators import shannon_entropy

ENTITY = "AWS_SECRET_KEY"
# A random 40-character base64 string has about 4.7 bits per character; 4.0 rejects
# placeholders like "wJalrXUtnFEMI/xxxxxxxxxxxxxxxxxxxxxxxxxx" while missing no real key.
MIN_ENTROPY = 4.0

_ASSIGNED = re.compile(
    r"""
    (?=[as])  # lets the engine skip to a name's first letter
    (?:aws[\w.\-]{0,20}?secret[\w.\-]{0,20}?|secret[_.\-]?access[_.\-]?)key
    ["']?[ \t]{0,5}(?::=|=>|=|:)[ \t]{0,5}["']?
    (?P<key>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])
    """,
    re.VERBOSE | re.IGNORECASE,
)


class AwsSecretKeyRecognizer:
    entity_types: tuple[str, ...] = (ENTITY,)
    score = 0.9

    def find(self, text: str) -> Iterator[Finding]:
        # A quick check, exact in ASCII only: the pattern ignores case, so a long s (U+017F) in
        # "secret" matches too.
        if text.isascii() and "secret" not in text.lower():
            return
        for match in _ASSIGNED.finditer(text):
            if shannon_entropy(match.group("key")) >= MIN_ENTROPY:
                yield Finding(ENTITY, match.start("key"), match.end("key"), self.score)
