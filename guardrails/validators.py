"""Checksums and measures that turn a pattern match into a confident finding.

A regex alone reports any sixteen digits as a card; these checks are what keep precision up
without a model: a random digit string passes Luhn one time in ten and mod-97 one time in 97.
"""

from __future__ import annotations

import math
from collections import Counter

# Lengths from the SWIFT IBAN registry (release 99, 2024), plus the "partial" members whose IBANs
# are in everyday use (the francophone African countries, Algeria, Iran): without an exact length
# a truncated or padded candidate could pass mod-97 by chance.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    # Partial members.
    "AO": 25, "BF": 28, "BJ": 28, "CF": 27, "CG": 27, "CI": 28, "CM": 27, "CV": 25, "DZ": 26,
    "GA": 27, "GQ": 27, "GW": 25, "IR": 26, "KM": 27, "MA": 28, "MG": 27, "ML": 28, "MZ": 25,
    "NE": 28, "SN": 28, "TD": 27, "TG": 28,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The mod-10 check every payment card number carries in its last digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """The scheme whose IIN range and lengths fit, or None: an unissued prefix is not a card.

    Ranges from ISO/IEC 7812 as the schemes publish them; JCB's 15-digit 1800 and 2131 ranges are
    legacy but still printed on test data and old statements.
    """
    length = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return "visa" if length in (13, 16, 19) else None
    if length == 16 and (51 <= p2 <= 55 or 2221 <= p4 <= 2720):
        return "mastercard"
    if length == 15 and p2 in (34, 37):
        return "amex"
    if 16 <= length <= 19 and (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65):
        return "discover"
    if 14 <= length <= 19 and (300 <= p3 <= 305 or p2 in (36, 38, 39)):
        return "diners"
    if 16 <= length <= 19 and 3528 <= p4 <= 3589:
        return "jcb"
    if length == 15 and p4 in (1800, 2131):
        return "jcb"
    if 16 <= length <= 19 and 2200 <= p4 <= 2204:
        return "mir"
    if 16 <= length <= 19 and p2 == 62:
        return "unionpay"
    if 12 <= length <= 19 and (p2 == 50 or 56 <= p2 <= 69):
        return "maestro"
    return None


def iban_valid(compact: str) -> bool:
    """Country length and the ISO 13616 mod-97 check; `compact` is upper case without spaces."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    # int(c, 36) maps 0-9 to themselves and A-Z to 10-35, exactly the IBAN letter encoding.
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """The SSA never issues these, and the rest are famous examples, not anyone's number."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    number = area + group + serial
    # 078-05-1120 was printed in a wallet insert in 1938, 219-09-9999 in an SSA pamphlet,
    # 123-45-6789 is everyone's placeholder; a run of one digit is filler, not a number.
    return number not in ("078051120", "219099999", "123456789") and len(set(number)) > 1


def shannon_entropy(value: str) -> float:
    """Bits per character of the value's own character distribution."""
    if not value:
        return 0.0
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())
