"""Stream guard benchmark: what checking an answer while it streams costs, per chunk and per answer.

Answers are built from the labelled PII texts (synth_dataset_v2.json, see benchmarks/pii.py), one
after another, with placeholders from the request's vault and a few secrets mixed in ("PII"), or
from its texts without any PII ("prose"), cut into chunks of 4 characters (a token's worth). The
route redacts every entity type and restores input values. For each answer the guard is fed chunk
by chunk; printed are:

- CPU time per chunk (feed), p50 / p99 / max, and in all per answer (feeds and finish), beside
  the whole-answer path (check_output, then restore) on the same text;
- what is held back: the chunks that arrive before the first release, over answers opening with
  each of the labelled texts (what the guard adds to time to first token), and after each chunk
  the characters received but not yet released (what it adds to each chunk's latency), also in
  milliseconds at 50 tokens/s and 4 characters a token.

    .venv/bin/python -m benchmarks.stream_guard [--repeat 3] [--dataset PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.pii import DEFAULT_DATASET
from contracts.guardrails import DirectionPolicy
from guardrails.enforcement import check_output
from guardrails.redaction import Vault, restore
from guardrails.registry import default_registry
from guardrails.stream_guard import OutputStreamGuard

CHARS_PER_TOKEN = 4
TOKENS_PER_SECOND = 50
MS_PER_CHAR = 1000 / (TOKENS_PER_SECOND * CHARS_PER_TOKEN)
REGISTRY = default_registry()
VAULT = {
    "<EMAIL_ADDRESS_1>": "jane.doe@example.org",
    "<PHONE_NUMBER_1>": "+44 20 7946 0958",
    "<CREDIT_CARD_1>": "4111 1111 1111 1111",
}
# Built here from pieces so no secret scanner mistakes this file for a leak.
_RANDOM = "q7Vx2LmT9bKz4RwN8cYp3HdJ6sFg1AeU5tZo0iQk"
EXTRAS = [
    "Write to <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>.",
    "The card on file is <CREDIT_CARD_1>.",
    f"Set OPENAI_API_KEY=sk-proj-{_RANDOM}{_RANDOM[:12]} in the environment.",
    f"Connect with postgres://app:{_RANDOM[:18]}@db.internal:5432/app and retry.",
    f"Use the header Authorization: Bearer {_RANDOM}{_RANDOM}.",
]


@dataclass(frozen=True)
class Result:
    name: str
    tokens: int
    chunks: int
    feed_ns: list[int]
    guard_ms: float
    whole_ms: float
    held: list[int]


def build_answer(texts: list[str], extras: list[str], characters: int, seed: int) -> str:
    rng = random.Random(seed)
    parts, length = [], 0
    while length < characters:
        part = rng.choice(extras) if extras and rng.random() < 0.1 else rng.choice(texts)
        parts.append(part)
        length += len(part) + 2
    return "\n\n".join(parts)[:characters]


def run(name: str, answer: str, tokens: int) -> Result:
    registry = REGISTRY
    policy = DirectionPolicy(default_action="redact")
    chunks = [answer[i : i + CHARS_PER_TOKEN] for i in range(0, len(answer), CHARS_PER_TOKEN)]
    guard = OutputStreamGuard(policy, registry, VAULT, restore_output=True)
    feed_ns, held, released = [], [], []
    started = time.thread_time_ns()
    for chunk in chunks:
        before = time.thread_time_ns()
        release = guard.feed(chunk)
        feed_ns.append(time.thread_time_ns() - before)
        released.append(release.text)
        held.append(guard.held_back)
    released.append(guard.finish().text)
    guard_ms = (time.thread_time_ns() - started) / 1e6
    before = time.thread_time_ns()
    _, checked = check_output(answer, policy, registry, Vault(VAULT))
    whole = restore(checked, Vault(VAULT))
    whole_ms = (time.thread_time_ns() - before) / 1e6
    if "".join(released) != whole:
        raise SystemExit(f"{name}: the streamed answer differs from the whole-answer path")
    return Result(
        name=name,
        tokens=tokens,
        chunks=len(chunks),
        feed_ns=feed_ns,
        guard_ms=guard_ms,
        whole_ms=whole_ms,
        held=held,
    )


def chunks_before_first_release(opening: str) -> int:
    """How many chunks of an answer arrive before the one that lets its first text go."""
    guard = OutputStreamGuard(DirectionPolicy(default_action="redact"), REGISTRY, VAULT, True)
    chunks = [opening[i : i + CHARS_PER_TOKEN] for i in range(0, len(opening), CHARS_PER_TOKEN)]
    for index, chunk in enumerate(chunks):
        if guard.feed(chunk).text:
            return index
    return len(chunks)


def percentile(values: list[int] | list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(results: list[Result], openings: list[int]) -> None:
    print(
        f"{'answer':<8}{'tokens':>7}{'chunks':>8}"
        f"{'feed p50 µs':>13}{'p99 µs':>9}{'max µs':>9}"
        f"{'guard ms':>10}{'whole ms':>10}"
    )
    for r in results:
        micros = [ns / 1000 for ns in r.feed_ns]
        print(
            f"{r.name:<8}{r.tokens:>7}{r.chunks:>8}"
            f"{percentile(micros, 0.5):>13.1f}{percentile(micros, 0.99):>9.1f}{max(micros):>9.1f}"
            f"{r.guard_ms:>10.1f}{r.whole_ms:>10.1f}"
        )
    ms_per_chunk = CHARS_PER_TOKEN * MS_PER_CHAR
    print()
    print(f"held back, in ms at {TOKENS_PER_SECOND} tokens/s and {CHARS_PER_TOKEN} chars/token:")
    mean, p99, most = statistics.fmean(openings), percentile(openings, 0.99), max(openings)
    print(
        f"chunks before the first release, over {len(openings)} answers opening with a labelled "
        f"text: mean {mean:.2f} ({mean * ms_per_chunk:.0f} ms), "
        f"p99 {p99:.0f} ({p99 * ms_per_chunk:.0f} ms), max {most} ({most * ms_per_chunk:.0f} ms)"
    )
    print("after each chunk, characters received and not yet released:")
    print(f"{'answer':<8}{'tokens':>7}{'mean':>8}{'ms':>6}{'p99':>7}{'ms':>6}{'max':>7}{'ms':>6}")
    for r in results:
        mean, p99, most = statistics.fmean(r.held), percentile(r.held, 0.99), max(r.held)
        print(
            f"{r.name:<8}{r.tokens:>7}{mean:>8.1f}{mean * MS_PER_CHAR:>6.0f}"
            f"{p99:>7.0f}{p99 * MS_PER_CHAR:>6.0f}{most:>7}{most * MS_PER_CHAR:>6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--repeat", type=int, default=3, help="runs per answer; the fastest kept")
    args = parser.parse_args()
    items = json.loads(args.dataset.read_text())
    with_pii = [item["full_text"] for item in items if item["spans"]]
    without_pii = [item["full_text"] for item in items if not item["spans"]]
    results = []
    for tokens in (1_000, 10_000):
        characters = tokens * CHARS_PER_TOKEN
        for name, texts, extras in (("PII", with_pii, EXTRAS), ("prose", without_pii, [])):
            answer = build_answer(texts, extras, characters, seed=tokens)
            runs = [run(name, answer, tokens) for _ in range(args.repeat)]
            results.append(min(runs, key=lambda r: r.guard_ms))
    openings = [chunks_before_first_release(item["full_text"]) for item in items]
    report(results, openings)


if __name__ == "__main__":
    main()
