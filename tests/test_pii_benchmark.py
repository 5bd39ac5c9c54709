"""The PII benchmark's scoring, on hand-made spans. Needs neither Presidio nor the scanner."""

import json
import subprocess
import sys

import pytest

from benchmarks.pii import (
    REPO_ROOT,
    Counts,
    Span,
    f_beta,
    load_dataset,
    score_corpus,
    score_text,
)

TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER")


def test_importing_the_benchmark_does_not_import_presidio():
    # In a fresh interpreter, so that nothing else the suite imported can interfere.
    code = (
        "import sys, benchmarks.pii; "
        "assert not {'presidio_analyzer', 'spacy', 'guardrails'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_overlap_of_the_same_type_is_a_true_positive():
    gold = [Span("EMAIL_ADDRESS", 10, 30)]
    counts = score_text(gold, [Span("EMAIL_ADDRESS", 25, 40)], TYPES)
    assert counts["EMAIL_ADDRESS"] == Counts(tp=1, fp=0, fn=0)


def test_touching_spans_do_not_overlap_and_types_must_match():
    gold = [Span("EMAIL_ADDRESS", 10, 20)]
    predicted = [Span("EMAIL_ADDRESS", 20, 25), Span("PHONE_NUMBER", 10, 20)]
    counts = score_text(gold, predicted, TYPES)
    assert counts["EMAIL_ADDRESS"] == Counts(tp=0, fp=1, fn=1)
    assert counts["PHONE_NUMBER"] == Counts(tp=0, fp=1, fn=0)


def test_each_gold_span_is_matched_once():
    gold = [Span("PHONE_NUMBER", 0, 12)]
    predicted = [Span("PHONE_NUMBER", 0, 3), Span("PHONE_NUMBER", 4, 12)]
    assert score_text(gold, predicted, TYPES)["PHONE_NUMBER"] == Counts(tp=1, fp=1, fn=0)


def test_matching_is_maximal_not_greedy():
    # The first prediction overlaps both gold spans, the second only the first gold span: a greedy
    # pass in order would pair the first with the first and leave one of each unmatched.
    gold = [Span("PHONE_NUMBER", 0, 10), Span("PHONE_NUMBER", 12, 20)]
    predicted = [Span("PHONE_NUMBER", 5, 15), Span("PHONE_NUMBER", 0, 4)]
    assert score_text(gold, predicted, TYPES)["PHONE_NUMBER"] == Counts(tp=2, fp=0, fn=0)


def test_types_outside_the_evaluated_set_are_ignored():
    gold = [Span("PERSON", 0, 5), Span("EMAIL_ADDRESS", 10, 20)]
    predicted = [Span("PERSON", 0, 5), Span("LOCATION", 10, 20), Span("EMAIL_ADDRESS", 12, 18)]
    counts = score_text(gold, predicted, TYPES)
    assert set(counts) == set(TYPES)
    assert counts["EMAIL_ADDRESS"] == Counts(tp=1, fp=0, fn=0)
    assert counts["PHONE_NUMBER"] == Counts()


def test_f2_formula():
    assert f_beta(0.5, 1.0) == pytest.approx(5 * 0.5 * 1.0 / (4 * 0.5 + 1.0))
    assert f_beta(1.0, 0.5) == pytest.approx(5 / 9)
    assert f_beta(0.8, 0.6, beta=1.0) == pytest.approx(2 * 0.8 * 0.6 / 1.4)
    assert f_beta(0.0, 0.0) == 0.0
    # Recall weighs more than precision.
    assert f_beta(0.5, 1.0) > f_beta(1.0, 0.5)


def test_corpus_counts_and_micro_average():
    gold = [
        [Span("EMAIL_ADDRESS", 0, 10), Span("PHONE_NUMBER", 20, 32)],
        [Span("PHONE_NUMBER", 0, 12)],
    ]
    predicted = [
        [Span("EMAIL_ADDRESS", 0, 10), Span("PHONE_NUMBER", 40, 50)],
        [Span("PHONE_NUMBER", 2, 8)],
    ]
    per_type, total = score_corpus(gold, predicted, TYPES)
    assert per_type["EMAIL_ADDRESS"] == Counts(tp=1, fp=0, fn=0)
    assert per_type["PHONE_NUMBER"] == Counts(tp=1, fp=1, fn=1)
    assert total == Counts(tp=2, fp=1, fn=1)
    phone = per_type["PHONE_NUMBER"]
    assert (phone.precision, phone.recall) == (0.5, 0.5)
    assert phone.f2 == pytest.approx(0.5)
    assert total.f2 == pytest.approx(5 * (2 / 3) * (2 / 3) / (4 * (2 / 3) + 2 / 3))


def test_undefined_precision_and_recall():
    nothing_found = Counts(tp=0, fp=0, fn=3)
    assert nothing_found.precision is None
    assert nothing_found.recall == 0.0
    assert nothing_found.f2 == 0.0
    assert Counts().f2 is None


def test_load_dataset_reads_spans_end_exclusive_and_reads_domain_name_as_url(tmp_path):
    text = "Mail a@b.co or see https://x.io/ now"
    records = [
        {
            "full_text": text,
            "spans": [
                {
                    "entity_type": "EMAIL_ADDRESS",
                    "entity_value": "a@b.co",
                    "start_position": 5,
                    "end_position": 11,
                },
                {
                    "entity_type": "DOMAIN_NAME",
                    "entity_value": "https://x.io/",
                    "start_position": 19,
                    "end_position": 32,
                },
            ],
        },
        {"full_text": "nothing here", "spans": []},
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records))
    texts, gold = load_dataset(path)
    assert texts == [text, "nothing here"]
    assert gold == [[Span("EMAIL_ADDRESS", 5, 11), Span("URL", 19, 32)], []]
    assert load_dataset(path, limit=1)[0] == [text]
