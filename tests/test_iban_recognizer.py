"""IBAN_CODE in running text: every IBAN of a sentence, whatever comes before or after it.

The IBANs are built here from country, BBAN and ISO 13616 check digits computed by this file,
one per length from 15 to 33 characters, with letters in the BBAN where that country has them.
"""

from __future__ import annotations

import itertools

import pytest

from guardrails.pii import IbanRecognizer
from guardrails.registry import default_registry

# (country, IBAN length, BBAN)
BBANS = [
    ("NO", 15, "86011117947"),
    ("BE", 16, "539007547034"),
    ("NL", 18, "ABNA0417164300"),
    ("SI", 19, "263300012039086"),
    ("AT", 20, "1904300234573201"),
    ("CH", 21, "00762011623852957"),
    ("DE", 22, "930936807137020596"),
    ("GB", 22, "PYHY17764535648592"),
    ("IE", 22, "AIBK93115212345678"),
    ("GI", 23, "NWBK000000007099453"),
    ("ES", 24, "21000418450200051332"),
    ("PT", 25, "000201231234567890154"),
    ("FR", 27, "20041010050500013M02606"),
    ("PL", 28, "109010140000071219812874"),
    ("BR", 29, "00360305000010009795493P1"),
    ("MU", 30, "BOMM0101101030300200000MUR"),
    ("MT", 31, "MALT011000012345MTLCAST001S"),
    ("LC", 32, "HEMM000100010012001200023015"),
    ("RU", 33, "04452560040702810412345678901"),
]


def iban(country: str, bban: str) -> str:
    """The compact IBAN, check digits computed as ISO 13616 says (98 - mod 97 of BBAN+CC00)."""
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def grouped(compact: str) -> str:
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


COMPACT = [iban(country, bban) for country, _, bban in BBANS]
GROUPED = [grouped(value) for value in COMPACT]
PRINTED = COMPACT + GROUPED


def found(text: str) -> list[str]:
    return [text[f.start : f.end] for f in IbanRecognizer().find(text)]


def test_the_test_ibans_have_their_countries_lengths() -> None:
    assert [len(value) for value in COMPACT] == [length for _, length, _ in BBANS]
    assert len({len(value) for value in COMPACT}) == 17
    assert iban("DE", "370400440532013000") == "DE89370400440532013000"  # a published example


@pytest.mark.parametrize("value", PRINTED)
def test_each_iban_alone_in_upper_and_lower_case(value: str) -> None:
    assert found(f"Pay to {value} by Friday") == [value]
    assert found(f"pay to {value.lower()} by friday") == [value.lower()]


def test_the_second_iban_of_the_reported_sentence_is_found() -> None:
    text = (
        "Please check whether DE67930936807137020596 and GB21 PYHY 1776 4535 6485 92 belong "
        "to the same customer."
    )
    assert found(text) == ["DE67930936807137020596", "GB21 PYHY 1776 4535 6485 92"]


@pytest.mark.parametrize("joiner", [" and ", " ", ", ", " or account ", " / ", " then 42 "])
@pytest.mark.parametrize(
    ("first_format", "second_format"), list(itertools.product([COMPACT, GROUPED], repeat=2))
)
def test_two_ibans_in_one_sentence_in_every_order_and_mix(
    joiner: str, first_format: list[str], second_format: list[str]
) -> None:
    missed = []
    for i, j in itertools.permutations(range(len(BBANS)), 2):
        first, second = first_format[i], second_format[j]
        text = f"Compare {first}{joiner}{second} please."
        if found(text) != [first, second]:
            missed.append(text)
    assert missed == []


def test_three_and_more_ibans_in_one_sentence() -> None:
    for values in itertools.permutations([GROUPED[7], COMPACT[6], GROUPED[14], COMPACT[18]]):
        text = "Accounts " + " and ".join(values) + " are hers."
        assert found(text) == list(values)
    every = " ".join(PRINTED)
    assert found(every) == PRINTED


@pytest.mark.parametrize("value", PRINTED)
@pytest.mark.parametrize("end", [".", "!", "?", ",", ";", ":", ")", '"', "'", "...", ".\n"])
def test_an_iban_at_a_sentence_end(value: str, end: str) -> None:
    assert found(f"The account is {value}{end}") == [value]
    assert found(f'Two accounts ("{value}{end} and {value}{end}) Thanks') == [value, value]


@pytest.mark.parametrize("value", PRINTED)
@pytest.mark.parametrize(
    "after", [" 1234 belongs to her", " 12", " 7", " BIC COBADEFFXXX", " AB12 CD34", " 2024-01-31"]
)
def test_an_iban_followed_by_other_words_or_digits(value: str, after: str) -> None:
    assert found(f"IBAN {value}{after}") == [value]


@pytest.mark.parametrize("value", PRINTED)
@pytest.mark.parametrize(
    "before",
    [
        "ref AB12 CDEF then",  # starts like an IBAN but names no country
        "DE12",  # a country and digits, but no IBAN of that length follows
        "GB00 1234",
        "order XX99 1234 5678 9012 3456",
    ],
)
def test_a_look_alike_before_an_iban_does_not_hide_it(value: str, before: str) -> None:
    assert found(f"{before} {value} ok") == [value]


@pytest.mark.parametrize("value", COMPACT)
def test_an_iban_glued_to_more_characters_is_not_one(value: str) -> None:
    assert found(f"x {value}1 y") == []
    assert found(f"x {value}A y") == []
    assert found(f"x 1{value} y") == []
    assert found(f"x {grouped(value)}1 y") == []


def test_the_registry_reports_every_iban_of_a_text_once() -> None:
    text = f"From {GROUPED[7]} and {COMPACT[6]}, then {GROUPED[16]} 12 times."
    findings = default_registry().scan(text)
    assert [(f.type, text[f.start : f.end]) for f in findings] == [
        ("IBAN_CODE", GROUPED[7]),
        ("IBAN_CODE", COMPACT[6]),
        ("IBAN_CODE", GROUPED[16]),
    ]
