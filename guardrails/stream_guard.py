"""Applying a route's output policy to an answer while it streams.

The whole-answer path (`enforcement.check_output`, then `redaction.restore` when the route puts
input values back) sees the complete text. `OutputStreamGuard` gives the same result chunk by
chunk: feed it each piece of the answer as it arrives and send on what it releases. Concatenated,
the releases equal what the whole-answer path returns for the complete text, and its verdict
counts the same findings. Text is held back only while a finding could still begin in it:

- where the registry's recognizers could still find something (see `stream_shapes`: the last
  word, a number that may still grow, a URL or key block that has not ended);
- where the model may be in the middle of writing a placeholder from the input's vault
  (`<EMAIL_` ... `ADDRESS_1>`), only as long as what it wrote could still become one.

Redactions are applied before text leaves. A finding the policy blocks ends the stream: the text
before it is released (redacted), not one character of the finding, and `Release.blocked` tells
the caller to end the response with finish_reason "content_filter". Feeding the rest of the
answer afterwards releases nothing but keeps counting findings, so a caller that drains the
provider gets the whole-answer verdict.

Each chunk costs a scan of a bounded tail (the undecided text plus what recognizers read before
it), not of the answer so far. The guard does no I/O and holds no lock: one guard per answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contracts.guardrails import DirectionPolicy, GuardrailPolicy, Verdict
from guardrails.enforcement import _verdict, output_may_act  # _verdict: check_output's shape
from guardrails.findings import Finding, Recognizer, Registry, resolve_overlaps
from guardrails.network import UrlRecognizer
from guardrails.redaction import Vault, restore
from guardrails.stream_shapes import (
    STREAM_SHAPES,
    URL_NEEDLES,
    EntityShapes,
    TextSoFar,
    ZoneTracker,
    any_trigger,
)

# A rescan must start where no candidate straddles, and inside one long line of digit groups
# (candidates chain from its first digit) there is no such point: its window grows with the line.
# Once a window is this large, rescans wait until the answer has grown by an eighth of it, so
# scanning stays linear in the answer; the price is latency inside such lines.
_LARGE_SCAN = 1_024
_SCAN_GROWTH = 8
_TRIM_SLACK = 4_096
# Appended to UrlRecognizer's window once the answer contains one of URL_NEEDLES before that
# window: a line break ends any URL before it, and "://" alone starts none.
_URL_NEEDLE_SUFFIX = "\n://"


@dataclass(frozen=True, slots=True)
class Release:
    """What may go to the client now."""

    text: str
    blocked: bool = False
    """A finding the policy blocks: send `text`, then end the response as content_filter."""


def needs_guard(policy: GuardrailPolicy, vault: Mapping[str, str]) -> bool:
    """Whether a streamed answer must pass through an OutputStreamGuard: its output checks may
    redact or block, or it must get the input's redacted values back. A route with a Bedrock
    guardrail is the caller's decision (Bedrock checks the answer whole)."""
    return output_may_act(policy.output) or (policy.restore_output and bool(vault))


class _PlaceholderRestorer:
    """`restore` applied to a stream: holds back a possible placeholder until it is complete."""

    def __init__(self, vault: Mapping[str, str]) -> None:
        self._vault = Vault(dict(vault))
        self._prefixes = {
            key[:i] for key in vault if key.startswith("<") for i in range(1, len(key))
        }
        self._held = ""

    def push(self, text: str) -> str:
        pending = self._held + text
        # A placeholder holds no "<" but its first, so only one after the last "<" can be cut.
        cut = pending.rfind("<")
        if cut >= 0 and pending[cut:] in self._prefixes:
            self._held = pending[cut:]
            return restore(pending[:cut], self._vault)
        self._held = ""
        return restore(pending, self._vault)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return restore(held, self._vault)

    @property
    def held(self) -> int:
        return len(self._held)


class _RecognizerStream:
    """One recognizer, the zones of its patterns, and where a rescan of it may start."""

    def __init__(self, recognizer: Recognizer, entities: list[EntityShapes]) -> None:
        self.recognizer = recognizer
        self.trackers = [ZoneTracker(shape) for entity in entities for shape in entity.shapes]
        self.behind = max((entity.behind for entity in entities), default=0)
        self.clear = 0
        """The latest point known to lie inside no zone of this recognizer."""
        self.needs_url_needle = isinstance(recognizer, UrlRecognizer)

    def meets(self, low: int, high: int) -> bool:
        return any(tracker.meets(low, high) for tracker in self.trackers)

    def clear_point(self, position: int) -> int:
        """The latest point at or before `position` that no zone of this recognizer straddles:
        a scan starting `behind` characters before it finds what the whole text has after it."""
        point, moved = position, True
        while moved:
            moved = False
            for tracker in self.trackers:
                around = tracker.zone_around(point)
                if around is not None:
                    point, moved = around, True
        for tracker in self.trackers:
            tracker.forget_before(point)
        self.clear = point
        return point

    def window_start(self, position: int) -> int:
        return max(0, self.clear_point(position) - self.behind)

    def needs_text_from(self) -> int:
        trackers = min((tracker.needs_text_from() for tracker in self.trackers), default=self.clear)
        return max(0, min(self.clear - self.behind, trackers))

    def scan(
        self, text: str, base: int, window: int, low: int, high: int, url_needle: bool
    ) -> list[Finding]:
        piece = text[window - base :]
        if self.needs_url_needle and url_needle:
            piece += _URL_NEEDLE_SUFFIX
        return [
            Finding(f.type, f.start + window, f.end + window, f.score)
            for f in self.recognizer.find(piece)
            if low <= f.start + window < high
        ]


def _streams(registry: Registry) -> list[_RecognizerStream] | None:
    """Per recognizer, its zone trackers; None when one has no shapes to stream with."""
    streams = []
    for recognizer in registry.recognizers:
        entities = [STREAM_SHAPES.get(entity) for entity in recognizer.entity_types]
        known = [e for e in entities if e is not None and isinstance(recognizer, e.recognizer)]
        if len(known) != len(entities):
            return None
        streams.append(_RecognizerStream(recognizer, known))
    return streams


def _settled_end(findings: Iterable[Finding], end: int) -> int:
    """`end`, or the start of the first group of overlapping findings that runs past it: which
    of them survives overlap resolution depends on findings not decided yet."""
    group_start, group_end = end, -1
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start >= group_end:
            if group_end > end:
                return group_start
            group_start = finding.start
        group_end = max(group_end, finding.end)
    return group_start if group_end > end else end


class OutputStreamGuard:
    """The output policy for one streamed answer.

    Call `feed` with each chunk of the answer, send what each Release holds, and call `finish`
    when the answer ends. Stop sending once a Release is blocked.
    """

    def __init__(
        self,
        policy: DirectionPolicy,
        registry: Registry,
        vault: Mapping[str, str],
        restore_output: bool,
    ) -> None:
        self._policy = policy
        self._registry = registry
        self._vault = Vault(dict(vault))
        self._restorer = _PlaceholderRestorer(vault) if restore_output and vault else None
        self._counts: Counter = Counter()
        self._blocked = False
        self._finished = False
        self._text = ""
        self._base = 0
        """The buffer holds the answer from this position on."""
        self._length = 0
        self._released = 0
        self._scanned_at = 0
        self._url_needle_seen = False
        self._acts = output_may_act(policy)
        self._streams = _streams(registry) if self._acts else []
        self._trackers = [t for stream in self._streams or [] for t in stream.trackers]
        shapes = [tracker.shape for tracker in self._trackers]
        self._lead = max((shape.back + shape.trigger_length for shape in shapes), default=0)
        self._trigger_length = max((shape.trigger_length for shape in shapes), default=0)
        self._any_trigger = any_trigger(shapes)
        self._idle = False
        """No tracker had an undecided zone when last asked."""
        self._idle_from = 0
        """Every trigger before this has been handed to its tracker."""
        self._zones_end = 0
        """No decided zone ends after this."""

    @property
    def verdict(self) -> Verdict:
        """The findings counted so far; the whole answer's verdict once `finish` has run."""
        return _verdict(self._counts, 0.0, None, False)

    @property
    def blocked(self) -> bool:
        return self._blocked

    @property
    def held_back(self) -> int:
        """Characters received and not yet released."""
        restorer_held = self._restorer.held if self._restorer else 0
        return self._length - self._released + restorer_held

    def feed(self, text: str) -> Release:
        if self._finished:
            raise ValueError("the answer has already finished")
        if not text:
            return Release("", self._blocked)
        self._append(text)
        if not self._acts:
            self._released = self._length
            return Release(self._restorer.push(text) if self._restorer else text)
        if self._streams is None:
            return Release("", self._blocked)
        return self._advance(final=False)

    def finish(self) -> Release:
        """Flush the rest: the answer has ended."""
        if self._finished:
            raise ValueError("the answer has already finished")
        self._finished = True
        if not self._acts:
            # Nothing can be redacted: the text went out as it came, and the whole of it is
            # scanned once for the verdict's counts.
            for finding in self._registry.scan(self._text):
                self._count(finding)
            return Release(self._restorer.flush() if self._restorer else "")
        if self._streams is None:
            # A recognizer stream_shapes has no shapes for: the answer was held, and is checked
            # whole.
            findings = self._registry.scan(self._text)
            released = Release(self._apply(findings, 0, self._length), self._blocked)
            self._released = self._length
        else:
            released = self._advance(final=True)
        if self._restorer is None or self._blocked:
            return released
        return Release(released.text + self._restorer.flush(), self._blocked)

    def _append(self, text: str) -> None:
        previous = self._length
        # A buffer referenced only from a local is grown in place; `self._text += text` would copy
        # it every time (the attribute holds a second reference).
        buffer = self._text
        self._text = ""
        buffer += text
        self._text = buffer
        self._length += len(text)
        if not self._url_needle_seen:
            tail = buffer[max(0, previous - 3 - self._base) :]
            self._url_needle_seen = any(needle in tail for needle in URL_NEEDLES)

    def _word_start(self) -> int:
        """Where the run of non-space characters at the end of the answer begins (looked for as
        far back as a trigger and its lead-in reach)."""
        text, base = self._text, self._base
        position, lowest = self._length, max(base, self._length - self._lead)
        while position > lowest and not text[position - 1 - base].isspace():
            position -= 1
        return position

    def _advance(self, final: bool) -> Release:
        assert self._streams is not None
        text, base, length = self._text, self._base, self._length
        if final:
            settled = self._decide(text, base, length, length, final=True)
        else:
            settled = self._undecided_from(text, base, length)
        start = self._released
        if settled <= start:
            return Release("", self._blocked)
        findings: list[Finding] = []
        # A finding lies inside a zone of its recognizer: only those with a zone here can have one.
        involved = []
        if self._zones_end > start:
            involved = [s for s in self._streams if s.meets(start, settled)]
        if involved:
            windows = [(stream, stream.window_start(start)) for stream in involved]
            rescan = length - min(window for _, window in windows)
            grown = length - self._scanned_at
            if not final and rescan > _LARGE_SCAN and grown * _SCAN_GROWTH < rescan:
                return Release("", self._blocked)
            self._scanned_at = length
            for stream, window in windows:
                findings += stream.scan(text, base, window, start, settled, self._url_needle_seen)
            settled = _settled_end(findings, settled)
            if settled <= start:
                return Release("", self._blocked)
            findings = resolve_overlaps(f for f in findings if f.start < settled)
        released = self._apply(findings, start, settled)
        self._released = settled
        if settled - self._base > 2 * _TRIM_SLACK:
            self._trim()
        return Release(released, self._blocked)

    def _undecided_from(self, text: str, base: int, length: int) -> int:
        """Where the earliest finding that more text could still change may begin."""
        word_start = self._word_start()
        if self._idle and self._any_trigger.search(text, self._idle_from - base) is None:
            # No trigger has arrived since every tracker last found nothing open: each would only
            # look for one still arriving at the end, and what that leaves undecided is the last
            # word or, for a longer one, the last `_lead` characters.
            self._idle_from = max(self._idle_from, length - self._trigger_length + 1)
            return min(length, max(word_start, length - self._lead + 1))
        return self._decide(text, base, length, word_start, final=False)

    def _decide(self, text: str, base: int, length: int, word_start: int, final: bool) -> int:
        settled, idle_from, idle = length, length, True
        seen = TextSoFar(text, base, length, self._url_needle_seen)
        for tracker in self._trackers:
            settled = min(settled, tracker.undecided_from(seen, word_start, final))
            idle = idle and not tracker.is_open
            idle_from = min(idle_from, tracker.next_trigger)
            if tracker.zones:
                self._zones_end = max(self._zones_end, tracker.zones[-1][1])
        self._idle, self._idle_from = idle, idle_from
        return settled

    def _apply(self, findings: list[Finding], start: int, end: int) -> str:
        """Count the findings, and what of [start, end) may go out, redacted and restored."""
        text, base = self._text, self._base
        was_blocked = self._blocked
        pieces: list[str] = []
        position = start
        for finding in findings:
            action = self._count(finding)
            if self._blocked:
                continue
            if action == "block":
                pieces.append(text[position - base : finding.start - base])
                self._blocked = True
            elif action == "redact":
                value = text[finding.start - base : finding.end - base]
                pieces.append(text[position - base : finding.start - base])
                pieces.append(self._vault.placeholder_for(finding.type, value))
                position = finding.end
        if was_blocked:
            return ""
        if not self._blocked:
            pieces.append(text[position - base : end - base])
        released = "".join(pieces)
        if self._restorer is None:
            return released
        released = self._restorer.push(released)
        return released + self._restorer.flush() if self._blocked else released

    def _count(self, finding: Finding) -> str:
        action = self._policy.action_for(finding.type)
        if action != "allow":
            self._counts[(finding.type, action)] += 1
        return action

    def _trim(self) -> None:
        """Drop text no tracker or rescan will read again."""
        assert self._streams is not None
        needed = self._released
        for stream in self._streams:
            stream.clear_point(self._released)
            needed = min(needed, stream.needs_text_from())
        if needed - self._base > _TRIM_SLACK:
            self._text = self._text[needed - self._base :]
            self._base = needed
