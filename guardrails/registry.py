"""The registry every request is scanned with.

Entity types reported by `default_registry()` (names are Presidio's where Presidio has one):

- PII: EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, US_SSN, IBAN_CODE, IP_ADDRESS, URL.
- Secrets: AWS_ACCESS_KEY, AWS_SECRET_KEY, PRIVATE_KEY, GITHUB_TOKEN, GITLAB_TOKEN, SLACK_TOKEN,
  SLACK_WEBHOOK, STRIPE_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY, GOOGLE_API_KEY, JWT,
  GENERIC_SECRET (see secrets.py and assignments.py for what each covers).
- With a NER backend: PERSON, LOCATION.
"""

from __future__ import annotations

from guardrails.assignments import GenericSecretRecognizer
from guardrails.aws import AwsSecretKeyRecognizer
from guardrails.findings import Recognizer, Registry
from guardrails.ner import NER_ENTITY_TYPES, NerBackend, NerRecognizer
from guardrails.network import IpAddressRecognizer, UrlRecognizer
from guardrails.phone import PhoneRecognizer
from guardrails.pii import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    UsSsnRecognizer,
)
from guardrails.secrets import PrivateKeyRecognizer, token_recognizers

PII_ENTITY_TYPES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
)
SECRET_ENTITY_TYPES: tuple[str, ...] = (
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "PRIVATE_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "SLACK_TOKEN",
    "SLACK_WEBHOOK",
    "STRIPE_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "JWT",
    "GENERIC_SECRET",
)
__all__ = [
    "NER_ENTITY_TYPES",
    "PII_ENTITY_TYPES",
    "SECRET_ENTITY_TYPES",
    "default_recognizers",
    "default_registry",
]


def default_recognizers() -> list[Recognizer]:
    """One recognizer per entity type; all are stateless, so instances are cheap to share."""
    return [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IbanRecognizer(),
        IpAddressRecognizer(),
        UrlRecognizer(),
        AwsSecretKeyRecognizer(),
        PrivateKeyRecognizer(),
        *token_recognizers(),
        GenericSecretRecognizer(),
    ]


def default_registry(include_ner: NerBackend | None = None) -> Registry:
    """Every pattern recognizer, plus PERSON/LOCATION when a NER backend is given."""
    recognizers = default_recognizers()
    if include_ner is not None:
        recognizers.append(NerRecognizer(include_ner))
    return Registry(recognizers)
