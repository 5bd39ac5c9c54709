"""The pattern recognizers: what each reports, exactly where, and what it must leave alone.

Every positive checks exact character offsets (text[start:end] is the value), because redaction
replaces exactly that slice. Negatives are the look-alikes that break naive patterns: dates and
order numbers for phones, Luhn-invalid cards, bad IBAN checksums, versions for IPs.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterable

import pytest

from guardrails.assignments import HIGH_ENTROPY_SCORE, LOW_ENTROPY_SCORE
from guardrails.aws import AwsSecretKeyRecognizer
from guardrails.findings import Finding, Recognizer, resolve_overlaps
from guardrails.ner import NerRecognizer
from guardrails.network import IpAddressRecognizer, UrlRecognizer
from guardrails.phone import NATIONAL_SCORE, VALIDATED_SCORE, PhoneRecognizer
from guardrails.pii import CreditCardRecognizer, EmailRecognizer, IbanRecognizer, UsSsnRecognizer
from guardrails.registry import (
    NER_ENTITY_TYPES,
    PII_ENTITY_TYPES,
    SECRET_ENTITY_TYPES,
    default_registry,
)
from guardrails.validators import luhn_valid, shannon_entropy

# Random-looking but fixed, built here so no secret scanner mistakes this file for a leak.
RANDOM_ALNUM = "q7Vx2LmT9bKz4RwN8cYp3HdJ6sFg1AeU5tZo0iQk"
REGISTRY = default_registry()


def spans(recognizer: Recognizer, text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in recognizer.find(text)]


def values(findings: Iterable[Finding], text: str) -> list[str]:
    return [text[f.start : f.end] for f in findings]


def assert_found(recognizer: Recognizer, text: str, value: str, entity: str) -> Finding:
    found = [f for f in recognizer.find(text) if text[f.start : f.end] == value]
    assert found, f"{value!r} not found in {text!r}: {spans(recognizer, text)}"
    assert found[0].type == entity
    assert found[0].start == text.index(value)
    assert 0.0 < found[0].score <= 1.0
    return found[0]


def with_check_digit(body: str) -> str:
    """Append the Luhn digit that makes body a valid card number."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


# EMAIL_ADDRESS


@pytest.mark.parametrize(
    "value",
    [
        "john.doe@example.com",
        "jane+newsletter@mail.example.co.uk",
        "o.brien-smith_99@sub.domain.io",
        "first%last@example.org",
    ],
)
def test_email_positives(value: str) -> None:
    assert_found(EmailRecognizer(), f"Write to {value} today.", value, "EMAIL_ADDRESS")


def test_email_trailing_punctuation_and_brackets_stay_outside() -> None:
    text = "Contacts: <ana@example.com>, (bo@example.net). Or mail cy@example.org."
    assert values(EmailRecognizer().find(text), text) == [
        "ana@example.com",
        "bo@example.net",
        "cy@example.org",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "icon@2x.png",
        "user@localhost",
        "a@b",
        "@example.com",
        "john@",
        "foo@bar.c",
        "postgres://admin:hunter2@db.example.com/app",
        "https://deploy@git.example.com/repo.git",
        "x" * 70 + "@example.com",
    ],
)
def test_email_negatives(text: str) -> None:
    assert spans(EmailRecognizer(), text) == []


# PHONE_NUMBER


@pytest.mark.parametrize(
    "value",
    [
        "(555) 123-4567",
        "(555)123-4567",
        "555.123.4567",
        "555-123-4567",
        "555 123 4567",
        "1-800-555-1234",
        "020 7946 0958",
        "0176 12345678",
        "(37) 788-063",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+447700 900123",
        "+49 30 901820",
        "+1-555-123-4567",
        "+14155552671",
        "001-541-754-3010",
        "0049 30 901820",
        "555-123-4567x1234",
        "+1-555-123-4567 ext. 42",
    ],
)
def test_phone_shapes_found_without_context(value: str) -> None:
    assert_found(PhoneRecognizer(), f"The desk is {value}, it says.", value, "PHONE_NUMBER")


@pytest.mark.parametrize(
    ("text", "value", "valid_national_number"),
    [
        ("call 912 345 678 tomorrow", "912 345 678", True),  # Spain, as dialled there
        ("Mobile: 9876 5432", "9876 5432", True),  # Norway
        ("Send an SMS to 71-33-52-22", "71-33-52-22", True),  # Denmark
        ("tel 5551234567", "5551234567", False),
        ("781 1704 (office)", "781 1704", False),
        ("3660170548-Fax", "3660170548", False),
    ],
)
def test_ambiguous_phone_shapes_need_a_phone_word_or_a_numbering_plan(
    text: str, value: str, valid_national_number: bool
) -> None:
    """With a phone word these are found; alone, only a number valid in some country's plan
    is, and at a lower score than with the word."""
    with_word = assert_found(PhoneRecognizer(), text, value, "PHONE_NUMBER")
    alone = list(PhoneRecognizer().find(f"It is {value}."))
    if valid_national_number:
        [finding] = alone
        assert finding.score == VALIDATED_SCORE < with_word.score
    else:
        assert alone == []


def test_phone_context_raises_the_score() -> None:
    alone = assert_found(PhoneRecognizer(), "It is 555-123-4567.", "555-123-4567", "PHONE_NUMBER")
    called = assert_found(
        PhoneRecognizer(), "Call me on 555-123-4567.", "555-123-4567", "PHONE_NUMBER"
    )
    assert called.score > alone.score


def test_phone_number_followed_by_a_stray_number_is_trimmed() -> None:
    text = "Dial 555-123-4567 5 times"
    assert spans(PhoneRecognizer(), text) == [("PHONE_NUMBER", "555-123-4567")]


@pytest.mark.parametrize(
    "text",
    [
        "Due 2024-01-15.",
        "Due 15/01/2024.",
        "Due 01.02.2024 or 2024.02.01",
        "Call on 2024-01-15 10:30 please",
        "Starts at 10:30:00",
        "Order #123456789 shipped",
        "Invoice INV-2024-001234 attached",
        "Your order 555-123-4567 has shipped",
        "Upgrade to v1.2.3 or 10.0.19041.1234",
        "Server 192.168.100.200 is down",
        "Card 4111 1111 1111 1111",
        "IBAN GB82 WEST 1234 5698 7654 32",
        "IBAN DE89 3704 0044 0532 0130 00",
        "Reference 12345678901234567890",
        "Number 5551234567 without any hint",
        "ZIP 90210 or 12345-6789",
        "SSN 536-22-1234",
        "Population 1 234 567 or 12.345.678",
        "ISBN 978-3-16-148410-0",
        "Seasons 2019 2020 2021",
        "Between 2000-2024",
        "Price $1,234,567.89",
        "coordinates 51.5074 -0.1278",
    ],
)
def test_phone_look_alikes_are_not_phones(text: str) -> None:
    assert spans(PhoneRecognizer(), text) == []


# National numbers with neither trunk prefix nor phone word: reported when libphonenumber accepts
# them, as written, for a default region. Numbers made up here, valid by each country's plan.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Write to Lucía at 655 123 987 after six.", "655 123 987"),  # ES mobile
        ("The Madrid branch: 913 456 789.", "913 456 789"),  # ES landline
        ("Ana 655-123-987", "655-123-987"),
        ("Joana: 936 123 456", "936 123 456"),  # PT mobile
        ("Giulia 347 1234567", "347 1234567"),  # IT mobile, long subscriber block
        ("Oslo desk 22 12 34 56", "22 12 34 56"),  # NO landline
        ("Ole, 412 34 567", "412 34 567"),  # NO mobile
        ("Mette, 33 12 34 56, Copenhagen", "33 12 34 56"),  # DK
        ("Jens 71-23-45-67", "71-23-45-67"),  # DK, dashed
        ("Anna 501 234 567", "501 234 567"),  # PL mobile
        ("CDMX 55 1234 5678", "55 1234 5678"),  # MX
        ("Text 655 123 987 via WhatsApp", "655 123 987"),
        # A street type on the next line of an address block says nothing about this line.
        ("Maria Lopez\n655 123 987\nCalle Mayor 5", "655 123 987"),
    ],
)
def test_valid_national_numbers_are_found_without_a_phone_word(text: str, value: str) -> None:
    found = assert_found(PhoneRecognizer(), text, value, "PHONE_NUMBER")
    assert found.score == VALIDATED_SCORE < NATIONAL_SCORE


def test_a_phone_word_still_scores_a_valid_national_number_higher() -> None:
    alone = assert_found(PhoneRecognizer(), "Ana 655 123 987", "655 123 987", "PHONE_NUMBER")
    called = assert_found(PhoneRecognizer(), "Call Ana 655 123 987", "655 123 987", "PHONE_NUMBER")
    assert called.score > alone.score


@pytest.mark.parametrize(
    "text",
    [
        # Valid numbers (ES/PL, NO/DK) that count, identify or locate something.
        "Order 612 345 678 has shipped",
        "Booking reference 22 12 34 56",
        "PIN 4321 8765",
        "The total was 612 345 678.",
        "Paid 612 345 678 EUR",
        "€ 612 345 678",
        # Amounts: with a unit they are counts, not phones (without one, "612 345 678" is taken
        # for the Spanish mobile it would be).
        "612 345 678 people signed up",
        "The town has 22 123 456 inhabitants",
        "Population 8 651 450",
        # House numbers and postcodes before a street; a 5-digit lead is never validated.
        "lives at 4521 1830 Main St",
        "at 41251 2450",
        # Dates and years, whatever libphonenumber says of "2019 2020" (a Danish number).
        "Due 15 01 2024",
        "on 2024 05 17",
        "Seasons 2019 2020",
        # Postal codes and short numeric codes.
        "PT 1000-001 Lisboa",
        "Warszawa 00-950",
        "SE-114 55 Stockholm",
        "Your code is 123 456",
        "OTP 12 34 56",
        # Mixed separators, dot-grouped thousands, and 7-digit local numbers (valid nowhere).
        "22 12-34 56",
        "Ask Jan: 501.234.567",
        "at 234 5678",
    ],
)
def test_valid_looking_numbers_that_are_not_phones(text: str) -> None:
    assert spans(PhoneRecognizer(), text) == []


def test_validation_regions_are_configurable() -> None:
    spanish, norwegian = "Ana 655 123 987", "Ole, 412 34 567"
    only_spain = PhoneRecognizer(regions=["ES"])
    assert spans(only_spain, spanish) == [("PHONE_NUMBER", "655 123 987")]
    assert spans(only_spain, norwegian) == []
    assert spans(PhoneRecognizer(regions=()), spanish) == []
    with pytest.raises(ValueError, match="unknown phone region"):
        PhoneRecognizer(regions=["XX"])


# CREDIT_CARD


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "4222222222222",
        "5555 5555 5555 4444",
        "2223 0031 2200 3222",
        "3782 822463 10005",
        "378282246310005",
        "6011 1111 1111 1117",
        "3056 9309 0259 04",
        "3530 1113 3330 0000",
        "6200 0000 0000 0005",
        "6759 6498 2643 8453",
    ],
)
def test_card_positives(value: str) -> None:
    finding = assert_found(CreditCardRecognizer(), f"Pay with {value} now", value, "CREDIT_CARD")
    assert finding.score >= 0.9


def test_card_word_raises_the_score() -> None:
    plain = assert_found(
        CreditCardRecognizer(), "x 4111111111111111", "4111111111111111", "CREDIT_CARD"
    )
    worded = assert_found(
        CreditCardRecognizer(), "my visa 4111111111111111", "4111111111111111", "CREDIT_CARD"
    )
    assert worded.score > plain.score


def test_two_cards_in_a_row_and_a_trailing_number() -> None:
    text = "Cards 4111 1111 1111 1111 5555 5555 5555 4444, and 4111 1111 1111 1111 2 times"
    assert values(CreditCardRecognizer().find(text), text) == [
        "4111 1111 1111 1111",
        "5555 5555 5555 4444",
        "4111 1111 1111 1111",
    ]


def test_unknown_issuer_range_needs_a_card_word() -> None:
    number = with_check_digit("990012345678901")
    assert spans(CreditCardRecognizer(), f"Reference {number}") == []
    finding = assert_found(
        CreditCardRecognizer(), f"My store card {number} expired", number, "CREDIT_CARD"
    )
    assert finding.score < 0.9


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn-invalid
        "card 4111111111111112",
        "card 5555 5555 5555 4445",
        "card 4111 1111-1111 1111",  # mixed separators
        "card 41111 1111 1111 111",  # not printed like a card
        "card 411111111111111111111",  # too long
        "card 41111111111",  # too short
        "ISBN 978-3-16-148410-0",
    ],
)
def test_card_negatives(text: str) -> None:
    assert spans(CreditCardRecognizer(), text) == []


# US_SSN


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("id 536-22-1234", "536-22-1234"),
        ("id 536 22 1234", "536 22 1234"),
        ("SSN: 536221234", "536221234"),
        ("social security number 536.22.1234", "536.22.1234"),
    ],
)
def test_ssn_positives(text: str, value: str) -> None:
    assert_found(UsSsnRecognizer(), text, value, "US_SSN")


def test_ssn_context_raises_the_score() -> None:
    plain = assert_found(UsSsnRecognizer(), "id 536-22-1234", "536-22-1234", "US_SSN")
    worded = assert_found(UsSsnRecognizer(), "my SSN is 536-22-1234", "536-22-1234", "US_SSN")
    assert worded.score > plain.score


@pytest.mark.parametrize(
    "value",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "536-00-1234",
        "536-22-0000",
        "123-45-6789",
        "078-05-1120",
        "111-11-1111",
        "536-22 1234",
        "1536-22-1234",
    ],
)
def test_ssn_invalid_numbers_are_rejected(value: str) -> None:
    assert spans(UsSsnRecognizer(), f"SSN {value}") == []


def test_bare_nine_digits_need_an_ssn_word() -> None:
    assert spans(UsSsnRecognizer(), "Tracking 536221234") == []


# IBAN_CODE


@pytest.mark.parametrize(
    "value",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NO9386011117947",
        "NL91ABNA0417164300",
        "CH93 0076 2011 6238 5295 7",
    ],
)
def test_iban_positives(value: str) -> None:
    finding = assert_found(IbanRecognizer(), f"Pay to {value} by Friday", value, "IBAN_CODE")
    assert finding.score == 1.0


def test_iban_stops_at_its_country_length_before_the_next_word() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX"
    assert spans(IbanRecognizer(), text) == [("IBAN_CODE", "DE89 3704 0044 0532 0130 00")]


def test_lower_case_iban_is_found_with_a_lower_score() -> None:
    text = "my iban is gb82west12345698765432 thanks"
    finding = assert_found(IbanRecognizer(), text, "gb82west12345698765432", "IBAN_CODE")
    assert finding.score < 1.0


@pytest.mark.parametrize(
    "value",
    [
        "GB82WEST12345698765433",  # checksum
        "DE89 3704 0044 0532 0130 01",  # checksum
        "DE89 3704 0044 0532 0130 0",  # length
        "XX89370400440532013000",  # no such country
        "Gb82West12345698765432",  # mixed case
    ],
)
def test_iban_negatives(value: str) -> None:
    assert spans(IbanRecognizer(), f"IBAN {value}") == []


# IP_ADDRESS


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("host 10.0.0.1.", "10.0.0.1"),
        ("listen 192.168.1.254:8080", "192.168.1.254"),
        ("mask 255.255.255.255", "255.255.255.255"),
        ("route 10.0.0.0/8", "10.0.0.0"),
        ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("v6 2001:db8::1 here", "2001:db8::1"),
        ("link fe80::1", "fe80::1"),
        ("mapped ::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("url http://[2001:db8::8]:80/", "2001:db8::8"),
    ],
)
def test_ip_positives(text: str, value: str) -> None:
    assert_found(IpAddressRecognizer(), text, value, "IP_ADDRESS")


@pytest.mark.parametrize(
    "text",
    [
        "999.1.1.1",
        "256.1.1.1",
        "version 1.2.3.4.5",
        "oid 1.3.6.1.4.1",
        "v1.2.3.4",
        "version 1.2.3.4",
        "01.02.03.04",
        "at 12:30:45",
        "slice x[::1]",
        "cpp a::b",
        "mac 00:1a:2b:3c:4d:5e",
    ],
)
def test_ip_negatives(text: str) -> None:
    assert spans(IpAddressRecognizer(), text) == []


# URL


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Go to https://example.com/path?q=1&r=2#top.", "https://example.com/path?q=1&r=2#top"),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            "https://en.wikipedia.org/wiki/Foo_(bar)",
        ),
        ("at www.example.org/x, then", "www.example.org/x"),
        ("get ftp://files.example.com/a.txt!", "ftp://files.example.com/a.txt"),
        ('<a href="http://localhost:8080/">', "http://localhost:8080/"),
        # The pattern ignores case, and so must the quick check in front of it.
        ("Www.Example.com is ours", "Www.Example.com"),
    ],
)
def test_url_positives(text: str, value: str) -> None:
    assert_found(UrlRecognizer(), text, value, "URL")


def test_a_quick_check_never_rejects_what_the_pattern_matches() -> None:
    # Case-insensitive patterns also match a long s (U+017F) for "s"; a check on the lower-cased
    # text must not skip such a text, or what is found would depend on what else it holds.
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCZ9xq2LmNz8h"
    text = f"aws_\u017fecret_access_key = {key}"
    assert_found(AwsSecretKeyRecognizer(), text, key, "AWS_SECRET_KEY")


@pytest.mark.parametrize("text", ["http:// nothing", "example.com", "mailto:a@example.com"])
def test_url_negatives(text: str) -> None:
    assert spans(UrlRecognizer(), text) == []


# Secrets


def _jwt(header: dict[str, str]) -> str:
    def segment(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment({'sub': '1234567890'})}.{RANDOM_ALNUM[:32]}"


SECRET_EXAMPLES = [
    ("AWS_ACCESS_KEY", "AKIA" + RANDOM_ALNUM[:16].upper()),
    ("AWS_ACCESS_KEY", "ASIA" + RANDOM_ALNUM[4:20].upper()),
    ("GITHUB_TOKEN", "ghp_" + RANDOM_ALNUM[:36]),
    ("GITHUB_TOKEN", "ghs_" + RANDOM_ALNUM[2:38]),
    ("GITHUB_TOKEN", "github_pat_11" + RANDOM_ALNUM[:20] + "_" + RANDOM_ALNUM * 2),
    ("GITLAB_TOKEN", "glpat-" + RANDOM_ALNUM[:20]),
    ("SLACK_TOKEN", "xoxb-123456789012-1234567890123-" + RANDOM_ALNUM[:24]),
    ("SLACK_TOKEN", "xoxp-" + RANDOM_ALNUM[:30]),
    ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T0000000/B0000000/" + RANDOM_ALNUM[:24]),
    ("STRIPE_KEY", "sk_live_" + RANDOM_ALNUM[:24]),
    ("STRIPE_KEY", "rk_live_" + RANDOM_ALNUM[:24]),
    ("STRIPE_KEY", "sk_test_" + RANDOM_ALNUM[:24]),
    ("OPENAI_API_KEY", "sk-" + RANDOM_ALNUM + RANDOM_ALNUM[:8]),
    ("OPENAI_API_KEY", "sk-proj-" + (RANDOM_ALNUM + "_") * 3),
    ("ANTHROPIC_API_KEY", "sk-ant-api03-" + RANDOM_ALNUM * 2 + "-" + RANDOM_ALNUM[:15] + "AA"),
    ("GOOGLE_API_KEY", "AIza" + RANDOM_ALNUM[:35]),
    ("JWT", _jwt({"alg": "HS256", "typ": "JWT"})),
]


@pytest.mark.parametrize(("entity", "token"), SECRET_EXAMPLES)
def test_provider_tokens(entity: str, token: str) -> None:
    text = f"use {token} for the deploy"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [(entity, token)]


@pytest.mark.parametrize(
    "text",
    [
        "AKIA" + RANDOM_ALNUM[:15].upper(),  # one character short
        "XAKIA" + RANDOM_ALNUM[:16].upper(),  # glued to a word
        "ghp_" + RANDOM_ALNUM[:20],
        "pk_live_" + RANDOM_ALNUM[:24],  # publishable, not secret
        "sk-this-is-a-very-long-hyphenated-Name-of-2024-things",
        "sk-learn is a library",
        "AIza" + RANDOM_ALNUM[:20],
        _jwt({"typ": "JWT"}),  # no "alg": not a JWT header
        "eyJub3QganNvbg.eyJzdWIiOiIxIn0.sig",
    ],
)
def test_token_look_alikes(text: str) -> None:
    assert [f for f in REGISTRY.scan(text) if f.type in SECRET_ENTITY_TYPES] == []


def test_stripe_test_keys_score_below_live_keys() -> None:
    live = REGISTRY.scan("sk_live_" + RANDOM_ALNUM[:24])[0]
    test = REGISTRY.scan("sk_test_" + RANDOM_ALNUM[:24])[0]
    assert test.score < live.score


def test_aws_secret_key_only_where_assigned() -> None:
    key = RANDOM_ALNUM[:20] + "/" + RANDOM_ALNUM[21:40]
    for text in (
        f"aws_secret_access_key = {key}",
        f'"SecretAccessKey": "{key}"',
        f"export AWS_SECRET_ACCESS_KEY='{key}'",
    ):
        assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
            ("AWS_SECRET_KEY", key)
        ]
    assert [f for f in REGISTRY.scan(f"hash {key}") if f.type == "AWS_SECRET_KEY"] == []


PEM_BODY = "\n".join(textwrap.wrap(base64.b64encode(RANDOM_ALNUM.encode() * 5).decode(), 64))


@pytest.mark.parametrize(
    "kind", ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]
)
def test_private_key_block_is_reported_whole(kind: str) -> None:
    block = f"-----BEGIN {kind}-----\n{PEM_BODY}\n-----END {kind}-----"
    text = f"My key:\n{block}\nWhy does ssh reject it?"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("PRIVATE_KEY", block)
    ]


def test_truncated_private_key_runs_to_the_end_of_its_body() -> None:
    head = f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n{PEM_BODY}"
    text = f"{head}\nand then the paste was cut"
    findings = [f for f in REGISTRY.scan(text) if f.type == "PRIVATE_KEY"]
    assert values(findings, text) == [head]


def test_public_keys_are_not_private_keys() -> None:
    text = f"-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----"
    assert [f for f in REGISTRY.scan(text) if f.type == "PRIVATE_KEY"] == []


# GENERIC_SECRET


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password=aB3$kL9!mQ2zXy", "aB3$kL9!mQ2zXy"),
        ('DB_PASSWORD="Zr8#pLq2vW!x"', "Zr8#pLq2vW!x"),
        ('{"api_key": "5f4dcc3b5aa765d61d8327deb882cf99"}', "5f4dcc3b5aa765d61d8327deb882cf99"),
        ("client_secret: " + RANDOM_ALNUM[:24], RANDOM_ALNUM[:24]),
        ("token = '" + RANDOM_ALNUM[:30] + "'", RANDOM_ALNUM[:30]),
        ("const dbPassword = `" + RANDOM_ALNUM[:16] + "`;", RANDOM_ALNUM[:16]),
        ("Authorization: Bearer " + RANDOM_ALNUM, RANDOM_ALNUM),
        ("postgres://admin:" + RANDOM_ALNUM[:16] + "@db.example.com:5432/app", RANDOM_ALNUM[:16]),
        ("my password is " + RANDOM_ALNUM[:12] + ".", RANDOM_ALNUM[:12]),
    ],
)
def test_high_entropy_assignments(text: str, value: str) -> None:
    findings = REGISTRY.scan(text)
    assert [(f.type, text[f.start : f.end]) for f in findings] == [("GENERIC_SECRET", value)]
    assert findings[0].score == HIGH_ENTROPY_SCORE


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password=changeme", "changeme"),
        ("PASSWORD: hunter2", "hunter2"),
        ("my password is hunter22", "hunter22"),
        ("secret = 'letmein'", "letmein"),
    ],
)
def test_low_entropy_assignments_are_reported_with_a_low_score(text: str, value: str) -> None:
    findings = REGISTRY.scan(text)
    assert [(f.type, text[f.start : f.end]) for f in findings] == [("GENERIC_SECRET", value)]
    assert findings[0].score == LOW_ENTROPY_SCORE < HIGH_ENTROPY_SCORE


@pytest.mark.parametrize(
    "text",
    [
        "password = ${DB_PASSWORD}",
        "token: {{ vault_token }}",
        "api_key=<your-api-key>",
        "api_key = YOUR_API_KEY_HERE",
        "password = os.environ['DB_PASSWORD']",
        "secret = settings.SECRET_KEY",
        "password=password",
        "token=access_token",
        "password = get_password()",
        "password: str",
        "password = None",
        "password: '********'",
        "The password is incorrect.",
        "Your token was revoked yesterday",
        "bypass=abcdefgh",
        "compass: northwards",
        "passport: X1234567",
        "max_tokens: 4096",
        "password=abc",
        "the token internationalization matters",
    ],
)
def test_not_secrets(text: str) -> None:
    assert REGISTRY.scan(text) == []


def test_entropy_is_bits_per_character() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy(RANDOM_ALNUM) > 4.5


# Overlaps, through the registry


def test_card_inside_a_url_query_wins_over_the_url() -> None:
    text = "Open https://shop.example/pay?card=4111111111111111&cvv=1 now"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("CREDIT_CARD", "4111111111111111")
    ]


def test_email_inside_a_url_wins_over_the_url() -> None:
    text = "See https://example.com/unsubscribe?email=jane.doe@example.org for details"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("EMAIL_ADDRESS", "jane.doe@example.org")
    ]


def test_specific_token_wins_over_the_generic_assignment() -> None:
    token = "ghp_" + RANDOM_ALNUM[:36]
    text = f"GITHUB_TOKEN={token}"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("GITHUB_TOKEN", token)
    ]


def test_jwt_bearer_is_a_jwt() -> None:
    token = _jwt({"alg": "RS256"})
    text = f"Authorization: Bearer {token}"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [("JWT", token)]


def test_webhook_wins_over_the_url() -> None:
    url = "https://hooks.slack.com/services/T0000000/B0000000/" + RANDOM_ALNUM[:24]
    assert [f.type for f in REGISTRY.scan(f"post to {url}")] == ["SLACK_WEBHOOK"]


def test_iban_is_not_cut_into_phones_or_cards() -> None:
    text = "IBAN: DE89 3704 0044 0532 0130 00, GB82 WEST 1234 5698 7654 32"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ]


def test_url_credentials_are_a_secret_not_an_email() -> None:
    text = "DATABASE_URL=postgres://app:" + RANDOM_ALNUM[:20] + "@db.internal:5432/app"
    assert [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)] == [
        ("GENERIC_SECRET", RANDOM_ALNUM[:20])
    ]


def _reference_resolve(findings: list[Finding]) -> list[Finding]:
    """The definition: best first, keep what overlaps nothing kept."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: (f.start, f.end))


def test_resolve_overlaps_matches_its_definition() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        findings = []
        for _ in range(rng.randint(0, 10)):
            start = rng.randint(0, 20)
            findings.append(
                Finding(rng.choice("AB"), start, start + rng.randint(0, 6), rng.choice((0.4, 0.9)))
            )
        assert resolve_overlaps(findings) == _reference_resolve(findings)


# Unicode: offsets count characters, not bytes or UTF-16 units


def test_offsets_are_in_characters() -> None:
    text = (
        "Grüße 🎉🎉 aus München — schreib an jürgen.müller@example.de, "
        "ruf +49 30 901820 an; Karte 4111 1111 1111 1111, 📞 020 7946 0958, IP 10.1.2.3."
    )
    found = [(f.type, text[f.start : f.end]) for f in REGISTRY.scan(text)]
    assert found == [
        ("EMAIL_ADDRESS", "jürgen.müller@example.de"),
        ("PHONE_NUMBER", "+49 30 901820"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("PHONE_NUMBER", "020 7946 0958"),
        ("IP_ADDRESS", "10.1.2.3"),
    ]
    email = REGISTRY.scan(text)[0]
    assert email.start == text.index("jürgen")
    assert len(text[: email.start].encode("utf-8")) != email.start


def test_non_ascii_digits_are_not_numbers() -> None:
    arabic_indic = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
    text = "555-123-4567 / 4111111111111111 / 536-22-1234".translate(arabic_indic)
    assert REGISTRY.scan(text) == []


# Registry and NER


def test_default_registry_reports_the_documented_types() -> None:
    assert set(REGISTRY.entity_types) == set(PII_ENTITY_TYPES) | set(SECRET_ENTITY_TYPES)
    assert not set(NER_ENTITY_TYPES) & set(REGISTRY.entity_types)


def test_scan_can_be_limited_to_some_types() -> None:
    text = "mail a@example.com or call 555-123-4567"
    assert [f.type for f in REGISTRY.scan(text, entities=["PHONE_NUMBER"])] == ["PHONE_NUMBER"]


class WordListNer:
    """A test backend: names from a fixed list, plus labels and spans a real model might emit."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def find_entities(self, text: str) -> list[Finding]:
        found = [
            Finding(label, text.index(word), text.index(word) + len(word), 0.85)
            for word, label in self.names.items()
            if word in text
        ]
        return [*found, Finding("ORG", 0, 3, 0.9), Finding("PERSON", 0, len(text) + 5, 0.9)]


def test_ner_backend_is_off_by_default_and_pluggable() -> None:
    text = "Ada Lovelace lives in London, mail ada@example.com"
    assert {f.type for f in REGISTRY.scan(text)} == {"EMAIL_ADDRESS"}
    registry = default_registry(
        include_ner=WordListNer({"Ada Lovelace": "PERSON", "London": "LOCATION"})
    )
    assert set(NER_ENTITY_TYPES) <= set(registry.entity_types)
    assert [(f.type, text[f.start : f.end]) for f in registry.scan(text)] == [
        ("PERSON", "Ada Lovelace"),
        ("LOCATION", "London"),
        ("EMAIL_ADDRESS", "ada@example.com"),
    ]


def test_ner_recognizer_drops_other_labels_and_bad_spans() -> None:
    recognizer = NerRecognizer(WordListNer({"Paris": "LOCATION"}))
    assert spans(recognizer, "Paris") == [("LOCATION", "Paris")]


# Speed: linear on adversarial input. Run in a subprocess so catastrophic backtracking would fail
# the test at the timeout instead of hanging the suite; no timing assertions otherwise.

ADVERSARIAL_SCRIPT = """
from guardrails.registry import default_registry
registry = default_registry()
inputs = [
    "a" * 50000 + "@",
    "a@" * 25000,
    "1" * 100000,
    "1 " * 50000,
    "1-" * 50000,
    "1." * 50000,
    "12 " * 30000,
    "(1) " * 25000,
    "+1 " * 30000,
    ":" * 100000,
    "a:" * 50000,
    "x@" + "x." * 50000,
    "-----BEGIN PRIVATE KEY-----\\n" * 3000,
    "password=" * 10000,
    "eyJ" + "a" * 100000,
    "www." + "a" * 100000,
    "http://" * 10000,
    "GB82 " * 20000,
    "sk-" + "a" * 100000,
    "4111 1111 1111 1111 " * 4000,
]
for text in inputs:
    registry.scan(text)
print("done")
"""


def test_adversarial_inputs_do_not_backtrack_catastrophically() -> None:
    result = subprocess.run(
        [sys.executable, "-c", ADVERSARIAL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "done"


def test_scanning_100_kb_of_mixed_text_completes() -> None:
    rng = random.Random(3)
    pieces = [
        "Hello, please call me at (555) 123-4567 about order #12345678.",
        "My card 4111 1111 1111 1111 was charged twice on 2024-01-15.",
        "IBAN DE89 3704 0044 0532 0130 00, ssn 536-22-1234, ip 10.0.0.1.",
        "Version 1.2.3.4.5 of https://example.com/docs?id=42 is out.",
        "password=" + RANDOM_ALNUM[:16] + " and jane@example.org",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit " * 3,
    ]
    text = " ".join(rng.choice(pieces) for _ in range(2000))[:100_000]
    findings = REGISTRY.scan(text)
    assert len(text) == 100_000
    assert {"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "EMAIL_ADDRESS"} <= {
        f.type for f in findings
    }
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
