"""Every recognizer, importable from one place.

PII recognizers live in pii.py, phone.py and network.py; secrets in secrets.py, aws.py and
assignments.py; the optional NER adapter in ner.py. `default_registry()` (registry.py) assembles
them.
"""

from guardrails.assignments import GenericSecretRecognizer
from guardrails.aws import AwsSecretKeyRecognizer
from guardrails.ner import NerBackend, NerRecognizer
from guardrails.network import IpAddressRecognizer, UrlRecognizer
from guardrails.phone import PhoneRecognizer
from guardrails.pii import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    UsSsnRecognizer,
)
from guardrails.registry import default_registry
from guardrails.secrets import PrivateKeyRecognizer, TokenRecognizer, token_recognizers

__all__ = [
    "AwsSecretKeyRecognizer",
    "CreditCardRecognizer",
    "EmailRecognizer",
    "GenericSecretRecognizer",
    "IbanRecognizer",
    "IpAddressRecognizer",
    "NerBackend",
    "NerRecognizer",
    "PhoneRecognizer",
    "PrivateKeyRecognizer",
    "TokenRecognizer",
    "UrlRecognizer",
    "UsSsnRecognizer",
    "default_registry",
    "token_recognizers",
]
