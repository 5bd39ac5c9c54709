"""OutputStreamGuard: a streamed answer gets exactly what the whole-answer path gives it.

The reference is what settle does with a complete answer: check_output, then restore unless the
answer is blocked. Each text is cut into chunks at seeded random points, into 1-character chunks,
and at points inside every finding and every placeholder; the releases, concatenated, must equal
the reference, the verdicts must be equal, and a stream that blocks must have let out exactly the
text before the first blocked finding (redacted and restored like the rest), nothing of it.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import random
import re
import textwrap
from dataclasses import dataclass

import pytest

from benchmarks.pii import DEFAULT_DATASET
from benchmarks.stream_guard import EXTRAS, VAULT, build_answer
from contracts.guardrails import BedrockGuardrail, DirectionPolicy, GuardrailPolicy, Verdict
from guardrails.enforcement import check_output
from guardrails.findings import Finding, Registry
from guardrails.ner import NerRecognizer
from guardrails.redaction import Vault, redact, restore
from guardrails.registry import default_recognizers, default_registry
from guardrails.stream_guard import OutputStreamGuard, Release, needs_guard
from guardrails.stream_shapes import STREAM_SHAPES
from guardrails.validators import luhn_valid

REGISTRY = default_registry()
REDACT_ALL = DirectionPolicy(default_action="redact")
BLOCK_SOME = DirectionPolicy(
    default_action="redact",
    actions={
        "CREDIT_CARD": "block",
        "US_SSN": "block",
        "PRIVATE_KEY": "block",
        "URL": "allow",
        "PHONE_NUMBER": "log",
    },
)
POLICIES = {"redact all": REDACT_ALL, "block some": BLOCK_SOME}
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")

# Random-looking but fixed, built here so no secret scanner mistakes this file for a leak.
RANDOM_ALNUM = "q7Vx2LmT9bKz4RwN8cYp3HdJ6sFg1AeU5tZo0iQk"
PEM_BODY = "\n".join(textwrap.wrap(base64.b64encode(RANDOM_ALNUM.encode() * 5).decode(), 64))


def _jwt(header: dict[str, str]) -> str:
    def segment(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment({'sub': '1234567890'})}.{RANDOM_ALNUM[:32]}"


SECRETS = [
    "AKIA" + RANDOM_ALNUM[:16].upper(),
    "ghp_" + RANDOM_ALNUM[:36],
    "github_pat_11" + RANDOM_ALNUM[:20] + "_" + RANDOM_ALNUM * 2,
    "glpat-" + RANDOM_ALNUM[:20],
    "xoxb-123456789012-1234567890123-" + RANDOM_ALNUM[:24],
    "https://hooks.slack.com/services/T0000000/B0000000/" + RANDOM_ALNUM[:24],
    "sk_live_" + RANDOM_ALNUM[:24],
    "sk_test_" + RANDOM_ALNUM[:24],
    "sk-" + RANDOM_ALNUM + RANDOM_ALNUM[:8],
    "sk-proj-" + (RANDOM_ALNUM + "_") * 3,
    "sk-ant-api03-" + RANDOM_ALNUM * 2 + "-" + RANDOM_ALNUM[:15] + "AA",
    "AIza" + RANDOM_ALNUM[:35],
    _jwt({"alg": "HS256", "typ": "JWT"}),
]
ASSIGNMENTS = [
    "aws_secret_access_key = " + RANDOM_ALNUM[:20] + "/" + RANDOM_ALNUM[21:40],
    '"SecretAccessKey": "' + RANDOM_ALNUM + '"',
    "password=aB3$kL9!mQ2zXy",
    'DB_PASSWORD="Zr8#pLq2vW!x"',
    '{"api_key": "5f4dcc3b5aa765d61d8327deb882cf99"}',
    "client_secret: " + RANDOM_ALNUM[:24],
    "token = '" + RANDOM_ALNUM[:30] + "'",
    "const dbPassword = `" + RANDOM_ALNUM[:16] + "`;",
    "Authorization: Bearer " + RANDOM_ALNUM,
    "Authorization: Bearer " + _jwt({"alg": "RS256"}),
    "postgres://admin:" + RANDOM_ALNUM[:16] + "@db.example.com:5432/app",
    "my password is " + RANDOM_ALNUM[:12] + ".",
    "PASSWORD: hunter2",
    "encryption_secret=" + RANDOM_ALNUM[:18],
    "secret_key = 'letmein'",
    "password = ${DB_PASSWORD}",
    "GITHUB_TOKEN=ghp_" + RANDOM_ALNUM[:36],
]
KEY_BLOCKS = [
    f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
    f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----",
    f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n{PEM_BODY}",
    f"-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----",
]
SECRET_TEXTS = [
    *(f"Use {token} for the deploy, then rotate it." for token in SECRETS),
    *(f"In the config:\n{line}\nand restart." for line in ASSIGNMENTS),
    *(f"My key:\n{block}\nWhy does ssh reject it?" for block in KEY_BLOCKS),
    "Open https://shop.example/pay?card=4111111111111111&cvv=1 now",
    "See https://example.com/unsubscribe?email=jane.doe@example.org for details",
    "IBAN: DE89 3704 0044 0532 0130 00, GB82 WEST 1234 5698 7654 32",
    "DATABASE_URL=postgres://app:" + RANDOM_ALNUM[:20] + "@db.internal:5432/app",
    "Call 020 7946 0958 (office) or +44 20 7946 0958 ext. 12; SSN 536-90-4399.",
    "Hosts 192.168.0.1 and 2001:db8::8a2e:370:7334, version 1.2.3.4, card 4111 1111 1111 1111.",
]


@dataclass
class Streamed:
    releases: list[Release]
    verdict: Verdict

    @property
    def text(self) -> str:
        return "".join(release.text for release in self.releases)

    @property
    def blocked(self) -> bool:
        return any(release.blocked for release in self.releases)


def pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def stream(
    text: str,
    cuts: list[int],
    policy: DirectionPolicy,
    vault: dict[str, str],
    registry: Registry = REGISTRY,
    restore_output: bool = True,
) -> Streamed:
    guard = OutputStreamGuard(policy, registry, vault, restore_output)
    releases = [guard.feed(piece) for piece in pieces(text, cuts)]
    releases.append(guard.finish())
    return Streamed(releases, guard.verdict)


def whole(
    text: str, policy: DirectionPolicy, vault: dict[str, str], registry: Registry = REGISTRY
) -> tuple[Verdict, str | None]:
    """What settle makes of the complete answer; None when it is blocked."""
    verdict, checked = check_output(text, policy, registry, Vault(vault))
    if verdict.action == "block":
        return verdict, None
    return verdict, restore(checked, Vault(vault))


def released_before_block(
    text: str, policy: DirectionPolicy, vault: dict[str, str], registry: Registry
) -> str:
    """The text before the first finding the policy blocks, redacted and restored."""
    findings = registry.scan(text)
    first = next(f.start for f in findings if policy.action_for(f.type) == "block")
    before = [f for f in findings if f.end <= first and policy.action_for(f.type) == "redact"]
    return restore(redact(text[:first], before, Vault(vault)), Vault(vault))


def assert_streams_like_whole(
    text: str,
    cuts: list[int],
    policy: DirectionPolicy,
    vault: dict[str, str],
    registry: Registry = REGISTRY,
) -> None:
    streamed = stream(text, cuts, policy, vault, registry)
    verdict, expected = whole(text, policy, vault, registry)
    context = f"text {text!r} cut at {cuts}"
    assert streamed.verdict == verdict, context
    if expected is not None:
        assert not streamed.blocked, context
        assert streamed.text == expected, context
        return
    assert streamed.blocked, context
    first_blocked = next(i for i, r in enumerate(streamed.releases) if r.blocked)
    assert all(r.blocked and not r.text for r in streamed.releases[first_blocked + 1 :]), context
    assert streamed.text == released_before_block(text, policy, vault, registry), context


def random_cuts(text: str, rng: random.Random, registry: Registry = REGISTRY) -> list[int]:
    """Seeded random cut points, plus one inside every finding and every placeholder."""
    length = len(text)
    if length < 2:
        return []
    cuts = set(rng.sample(range(1, length), min(length - 1, rng.randint(1, 16))))
    spans = [(f.start, f.end) for f in registry.scan(text)]
    spans += [m.span() for m in _PLACEHOLDER.finditer(text)]
    cuts.update(rng.randint(start + 1, end - 1) for start, end in spans if end - start > 1)
    return sorted(cuts)


def every_cut(text: str) -> list[int]:
    return list(range(1, len(text)))


# The table


def test_every_entity_type_of_the_default_registry_has_shapes() -> None:
    assert set(STREAM_SHAPES) == set(REGISTRY.entity_types)
    for recognizer in REGISTRY.recognizers:
        for entity in recognizer.entity_types:
            assert isinstance(recognizer, STREAM_SHAPES[entity].recognizer), entity


# Placeholders


def test_a_placeholder_split_across_chunks_is_restored() -> None:
    vault = {"<EMAIL_ADDRESS_1>": "jane.doe@example.org"}
    streamed = stream("Write to <EMAIL_ADDRESS_1> today.", [15], REDACT_ALL, vault)
    # The last word could still grow into something to redact: it goes out at the end.
    assert [r.text for r in streamed.releases] == ["Write to ", "jane.doe@example.org ", "today."]


@pytest.mark.parametrize("policy", [REDACT_ALL, DirectionPolicy()], ids=["redact all", "log"])
def test_a_possible_placeholder_is_held_only_while_it_could_still_become_one(
    policy: DirectionPolicy,
) -> None:
    guard = OutputStreamGuard(policy, REGISTRY, {"<EMAIL_ADDRESS_1>": "a@example.org"}, True)
    assert guard.feed("see <EMAIL_ADDR").text == "see "
    # "<EMAIL_ADDRESS_1 " can no longer become the placeholder: it goes out as the model wrote it.
    assert guard.feed("ESS_1 and <EMAIL_ADDRESS_1> ").text == "<EMAIL_ADDRESS_1 and a@example.org "
    assert guard.feed("<PHONE_NUMBER_1> ").text == "<PHONE_NUMBER_1> "
    assert guard.finish().text == ""


def test_restore_can_be_off() -> None:
    vault = {"<EMAIL_ADDRESS_1>": "jane.doe@example.org"}
    text = "Write to <EMAIL_ADDRESS_1> or jane.doe@example.org today."
    streamed = stream(text, every_cut(text), REDACT_ALL, vault, restore_output=False)
    assert streamed.text == "Write to <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_1> today."


def test_a_route_that_only_logs_streams_its_text_through_and_counts_at_the_end() -> None:
    text = "Mail jane.doe@example.org or call 020 7946 0958."
    guard = OutputStreamGuard(DirectionPolicy(), REGISTRY, {}, True)
    assert [guard.feed(piece).text for piece in pieces(text, [5, 12])] == pieces(text, [5, 12])
    assert guard.finish() == Release("")
    assert guard.verdict == whole(text, DirectionPolicy(), {})[0]
    assert guard.verdict.action == "log"


# Equivalence with the whole-answer path


def dataset_answer(item: dict, index: int) -> tuple[str, dict[str, str]]:
    """A model's answer built from a labelled text: some values came from the input (they are in
    the vault), and of those the model repeats some as placeholders and some as values."""
    vault = Vault()
    text, kept, position = item["full_text"], [], 0
    spans = sorted(item["spans"], key=lambda s: s["start_position"])
    for number, span in enumerate(spans):
        if (number + index) % 3 == 2 or span["start_position"] < position:
            continue
        placeholder = vault.placeholder_for(span["entity_type"], span["entity_value"])
        if (number + index) % 3 == 0:
            kept += [text[position : span["start_position"]], placeholder]
            position = span["end_position"]
    kept.append(text[position:])
    return "".join(kept), dict(vault.by_placeholder)


def test_every_labelled_text_streams_like_the_whole_answer() -> None:
    assert DEFAULT_DATASET.exists(), f"the labelled PII texts are expected at {DEFAULT_DATASET}"
    items = json.loads(DEFAULT_DATASET.read_text())
    assert len(items) == 1500
    rng = random.Random(20_260_101)
    for index, item in enumerate(items):
        text, vault = dataset_answer(item, index)
        chunkings = [random_cuts(text, rng)]
        if index % 4 == 0:
            chunkings.append(every_cut(text))
        for policy in POLICIES.values():
            for cuts in chunkings:
                assert_streams_like_whole(text, cuts, policy, vault)


@pytest.mark.parametrize("text", SECRET_TEXTS)
@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_texts_with_secrets_stream_like_the_whole_answer(
    text: str, policy: DirectionPolicy
) -> None:
    rng = random.Random(text)
    for cuts in [every_cut(text), *(random_cuts(text, rng) for _ in range(5))]:
        assert_streams_like_whole(text, cuts, policy, {})


@pytest.mark.parametrize(
    "text",
    [
        "Www.Example.com is down.",
        "Www.Example.com is down, see https://status.example.org now.",
        "See www.status.example.org; Www.Example.com is down.",
    ],
)
def test_a_mixed_case_www_address_depends_on_the_rest_of_the_answer(text: str) -> None:
    # UrlRecognizer runs only on texts with "://", "www." or "WWW." somewhere, but matches
    # "www." in any case: "Www.Example.com" is a URL only if the answer has one of those too.
    for cuts in (every_cut(text), random_cuts(text, random.Random(1))):
        assert_streams_like_whole(text, cuts, REDACT_ALL, {})


# Adversarial texts: fragments of every shape glued together, fed to the whole registry and to
# each recognizer alone (where no other recognizer's shapes hide a mistake in its own).


def _card(rng: random.Random) -> str:
    body = rng.choice(["411111111111111", "555555555555444", "37828224631000", "601111111111111"])
    if rng.random() < 0.3:
        body = "".join(rng.choice("0123456789") for _ in body)
    number = next(body + d for d in "0123456789" if luhn_valid(body + d))
    return " ".join(textwrap.wrap(number, 4)) if rng.random() < 0.5 else number


def _digit_groups(rng: random.Random) -> str:
    separator = rng.choice([" ", "-", " ", "."])
    sizes = [1, 2, 3, 4, 4, 4, 19]
    groups = [
        _card(rng).replace(" ", "")
        if rng.random() < 0.3
        else "".join(rng.choice("0123456789") for _ in range(rng.choice(sizes)))
        for _ in range(rng.randint(5, 40))
    ]
    return separator.join(groups)


FRAGMENTS = [
    lambda r: r.choice(
        ["hello", "the", "card", "call", "phone", "office", "ssn", "key", "token", "password",
         "is", "version", "ext", "x", "secret", "bypass", "Bearer", "www", "http", "fax", "people"]
    ),
    lambda r: str(r.randint(0, 10 ** r.randint(1, 12))),
    lambda r: r.choice([*" \n\t.,-:;()+@/=\"'<>#_", "  ", "\r\n"]),
    _card,
    _digit_groups,
    lambda r: _card(r).replace(" ", "") + r.choice([".5", "-5", ".x", "5", " 5"]),
    lambda r: r.choice(["078-05-1121", "123 45 6780", "536-90-4399", "536904399", "536.90.4399"]),
    lambda r: r.choice(
        ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "de89370400440532013000"]
    ),
    lambda r: r.choice(
        ["+44 20 7946 0958", "(555) 123-4567", "020 7946 0958", "555-123-4567 ext. 12",
         "699 956 915", "+14155552671", "555 1234", "001-541-754-3010", "555.123.4567 x9"]
    ),
    lambda r: r.choice(
        ["192.168.0.1", "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1", "1.2.3.4.5", "256.1.1.1"]
    ),
    lambda r: "".join(r.choice("abcdefABCDEF0123456789:.") for _ in range(r.randint(3, 30))),
    lambda r: r.choice(["john.doe@example.com", "a@b.co", "icon@2x.png", "x@y", "user@host.com."]),
    lambda r: "a" * r.randint(50, 70) + "@" + "b" * r.randint(1, 5) + ".com",
    lambda r: "postgres://" + "u" * r.randint(40, 130) + ":pw@" + r.choice(["x.io", "a@b.co"]),
    lambda r: r.choice(
        ["https://example.com/a?b=c", "www.example.org/x", "Www.Example.com", "http://",
         "(see http://a.io/x).", "https://example.com/u?email=jane.doe@example.org"]
    ),
    lambda r: "https://" + "".join(r.choice("abc/.?=&%") for _ in range(r.randint(5, 60)))
    + r.choice(["'", '"', "`", "<", ">", " ", ")", "."]),
    lambda r: r.choice(SECRETS),
    lambda r: r.choice(ASSIGNMENTS),
    lambda r: r.choice([*KEY_BLOCKS, "-----BEGIN EC PRIVATE KEY-----", "-----END EC PRIVATE KEY-"]),
    lambda r: r.choice(["<EMAIL_ADDRESS_1>", "<PHONE_NUMBER_1>", "<EMAIL_ADDR", "<<PHONE_1>"]),
    lambda r: r.choice(["card ", "credit card number ", "ssn: ", "call me at ", "tax id "])
    + " " * r.randint(0, 45),
]  # fmt: skip
FUZZ_VAULT = {"<EMAIL_ADDRESS_1>": "john.doe@example.com", "<PHONE_NUMBER_1>": "+44 20 7946 0958"}


def adversarial_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 25)):
        parts.append(rng.choice(FRAGMENTS)(rng))
        if rng.random() < 0.7:
            parts.append(rng.choice([" ", " ", "\n", ", ", ". "]))
    return "".join(parts)


def test_adversarial_texts_stream_like_the_whole_answer() -> None:
    rng = random.Random(7)
    for _ in range(150):
        text = adversarial_text(rng)
        cuts = every_cut(text) if rng.random() < 0.3 else random_cuts(text, rng)
        for policy in POLICIES.values():
            assert_streams_like_whole(text, cuts, policy, FUZZ_VAULT)


@pytest.mark.parametrize(
    "recognizer", default_recognizers(), ids=lambda r: "+".join(r.entity_types)
)
def test_adversarial_texts_stream_like_the_whole_answer_per_recognizer(recognizer) -> None:
    registry = Registry([recognizer])
    rng = random.Random(11)
    for _ in range(40):
        text = adversarial_text(rng)
        cuts = every_cut(text) if rng.random() < 0.4 else random_cuts(text, rng, registry)
        assert_streams_like_whole(text, cuts, REDACT_ALL, FUZZ_VAULT, registry)


# Holding back and blocking


def test_prose_is_held_back_only_for_the_word_in_progress() -> None:
    text = "The river runs through the old town and the bridges are lovely in the evening light."
    guard = OutputStreamGuard(REDACT_ALL, REGISTRY, {}, True)
    received, released = "", ""
    for piece in pieces(text, list(range(4, len(text), 4))):
        received += piece
        released += guard.feed(piece).text
        assert released == received[: received.rfind(" ") + 1]
    assert released + guard.finish().text == text


def test_a_private_key_is_held_until_its_end_line_and_then_redacted() -> None:
    block = KEY_BLOCKS[0]
    guard = OutputStreamGuard(REDACT_ALL, REGISTRY, {}, True)
    released = guard.feed("Here it is:\n").text
    for line in block.splitlines(keepends=True)[:-1]:
        released += guard.feed(line).text
    assert released == "Here it is:\n"
    released += guard.feed(block.splitlines()[-1] + "\nDone. ").text
    assert released == "Here it is:\n<PRIVATE_KEY_1>\nDone. "


def test_a_blocked_card_stops_the_stream_before_any_of_its_digits() -> None:
    card = "4111 1111 1111 1111"
    text = f"Pay jane.doe@example.org with {card} by Friday, then we can talk about the next steps."
    guard = OutputStreamGuard(BLOCK_SOME, REGISTRY, {}, True)
    releases = [guard.feed(char) for char in text]
    blocked_at = next(i for i, release in enumerate(releases) if release.blocked)
    assert "".join(r.text for r in releases) == "Pay <EMAIL_ADDRESS_1> with "
    # Decided once the 30 characters after the number that a phone number's labels and units
    # are looked for in have arrived: the phone recognizer might still outrank the card.
    assert blocked_at == text.index(card) + len(card) + 30
    assert all(r.blocked and not r.text for r in releases[blocked_at + 1 :])
    assert guard.finish() == Release("", blocked=True)
    assert guard.verdict == whole(text, BLOCK_SOME, {})[0]
    assert guard.verdict.reason == "contains CREDIT_CARD"


def test_a_number_is_decided_as_soon_as_the_text_after_it_is() -> None:
    # Shorter than any phone number: only the two characters its patterns look ahead at.
    text = "In 2024, 17 people came. "
    guard = OutputStreamGuard(REDACT_ALL, REGISTRY, {}, True)
    released = [guard.feed(char).text for char in text]
    assert "".join(released[: text.index(",") + 2]) == "In 2024, "


def pii_answer(characters: int) -> str:
    items = json.loads(DEFAULT_DATASET.read_text())
    texts = [item["full_text"] for item in items if item["spans"]]
    return build_answer(texts, EXTRAS, characters, seed=characters)


def test_a_long_answer_is_held_back_by_a_few_characters() -> None:
    answer = pii_answer(40_000)
    guard = OutputStreamGuard(REDACT_ALL, REGISTRY, VAULT, True)
    held = []
    for piece in pieces(answer, list(range(4, len(answer), 4))):
        guard.feed(piece)
        held.append(guard.held_back)
    guard.finish()
    # A number waits for the 30 characters after it that phone labels are looked for in, a
    # secret until it ends; anything else, for the word in progress.
    assert max(held) <= 200
    assert sum(held) / len(held) <= 16


class ScanCounter:
    """Wraps recognizers (as instances of subclasses, so the guard still knows their shapes) and
    counts the characters they are given."""

    def __init__(self) -> None:
        self.characters = 0

    def registry(self) -> Registry:
        return Registry([self._counting(recognizer) for recognizer in default_recognizers()])

    def _counting(self, recognizer):
        counter, base = self, type(recognizer)

        def find(self, text: str):
            counter.characters += len(text)
            return base.find(self, text)

        clone = copy.copy(recognizer)
        clone.__class__ = type(f"Counting{base.__name__}", (base,), {"find": find})
        return clone


@pytest.mark.parametrize(
    ("answer", "per_character"),
    [
        (pii_answer, 8),
        # One line of digit groups: candidates chain from its first digit, so rescans start there
        # and are spaced out as the line grows.
        (lambda length: ("1234 5678 9012 " * length)[:length], 200),
    ],
    ids=["PII", "one line of digit groups"],
)
@pytest.mark.parametrize("length", [4_000, 40_000])
def test_rescans_stay_linear_in_the_answer(answer, per_character: int, length: int) -> None:
    text = answer(length)
    counter = ScanCounter()
    guard = OutputStreamGuard(REDACT_ALL, counter.registry(), VAULT, True)
    for piece in pieces(text, list(range(4, len(text), 4))):
        guard.feed(piece)
    guard.finish()
    assert counter.characters <= per_character * len(text)


class NamesBackend:
    def find_entities(self, text: str) -> list[Finding]:
        return [
            Finding("PERSON", m.start(), m.end(), 0.85) for m in re.finditer(r"Ada Lovelace", text)
        ]


def test_a_recognizer_without_shapes_gets_the_answer_whole() -> None:
    registry = Registry([*default_recognizers(), NerRecognizer(NamesBackend())])
    text = "Ada Lovelace wrote to jane.doe@example.org about the engine."
    guard = OutputStreamGuard(REDACT_ALL, registry, {}, True)
    assert all(guard.feed(piece).text == "" for piece in pieces(text, [4, 20, 40]))
    assert guard.finish().text == whole(text, REDACT_ALL, {}, registry)[1]
    assert guard.verdict == whole(text, REDACT_ALL, {}, registry)[0]


def test_feeding_a_finished_answer_is_an_error() -> None:
    guard = OutputStreamGuard(REDACT_ALL, REGISTRY, {}, True)
    guard.feed("done")
    guard.finish()
    with pytest.raises(ValueError, match="already finished"):
        guard.feed("more")
    with pytest.raises(ValueError, match="already finished"):
        guard.finish()


def test_a_character_far_before_a_finding_does_not_change_it() -> None:
    # A character that lower-cases to two (U+0130) once sent GenericSecretRecognizer down another
    # path, which disagreed on a key name nested in a longer one.
    text = "\u0130stanbul. " + "The weather was fine. " * 20 + "access_secretkey: hunter22 ok"
    assert_streams_like_whole(text, [len(text) - 20], REDACT_ALL, {})


# When a stream needs the guard


@pytest.mark.parametrize(
    ("policy", "vault", "needed"),
    [
        (GuardrailPolicy(), {}, False),
        (GuardrailPolicy(), {"<EMAIL_ADDRESS_1>": "a@example.org"}, True),
        (GuardrailPolicy(restore_output=False), {"<EMAIL_ADDRESS_1>": "a@example.org"}, False),
        (GuardrailPolicy(output=DirectionPolicy(actions={"CREDIT_CARD": "redact"})), {}, True),
        (GuardrailPolicy(output=DirectionPolicy(default_action="block")), {}, True),
        (GuardrailPolicy(output=DirectionPolicy(default_action="allow")), {}, False),
        (GuardrailPolicy(bedrock=BedrockGuardrail(guardrail_id="g")), {}, False),
    ],
)
def test_needs_guard(policy: GuardrailPolicy, vault: dict[str, str], needed: bool) -> None:
    assert needs_guard(policy, vault) is needed
