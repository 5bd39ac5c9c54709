"""Applying a route's policy to a request and to its answer."""

from __future__ import annotations

from collections import Counter

from contracts.chat import ChatRequest, ChatResponse
from contracts.guardrails import (
    ACTION_STRENGTH,
    DirectionPolicy,
    FindingCount,
    GuardrailPolicy,
    Verdict,
)
from guardrails.chat_texts import (
    request_texts,
    response_texts,
    with_request_texts,
    with_response_texts,
)
from guardrails.findings import Registry
from guardrails.injection import injection_score
from guardrails.json_text import JsonView
from guardrails.redaction import Vault, redact, restore

# System and developer prompts are the operator's own instructions; injection is looked for in
# what users and tools put into the conversation.
_UNTRUSTED_ROLES = ("user", "tool")


def _checked(
    text: str,
    policy: DirectionPolicy,
    registry: Registry,
    vault: Vault,
    counts: Counter,
    read_json: bool = True,
) -> str:
    """The text with the policy applied to what it contains; with `read_json`, a JSON object or
    array is read by what its strings say (see json_text.py)."""
    view = JsonView.of(text) if read_json else None
    to_redact = []
    for finding in registry.scan(view.plain if view else text):
        action = policy.action_for(finding.type)
        if action == "allow":
            continue
        counts[(finding.type, action)] += 1
        if action == "redact":
            to_redact.append(finding)
    if not to_redact:
        return text
    return view.redact(to_redact, vault) if view else redact(text, to_redact, vault)


def _verdict(counts: Counter, score: float, reason: str | None, injection_blocked: bool) -> Verdict:
    actions = [action for (_, action) in counts]
    if injection_blocked:
        actions.append("block")
    strongest = max(actions, key=ACTION_STRENGTH.__getitem__, default="none")
    if strongest == "block" and reason is None:
        blocked = sorted({kind for (kind, action) in counts if action == "block"})
        reason = f"contains {', '.join(blocked)}"
    return Verdict(
        action=strongest,  # type: ignore[arg-type]
        findings=[
            FindingCount(type=kind, count=n, action=action)
            for (kind, action), n in sorted(counts.items())
        ],
        injection_score=score,
        reason=reason if strongest == "block" else None,
    )


def check_input(
    chat: ChatRequest, policy: DirectionPolicy, registry: Registry, vault: Vault
) -> tuple[Verdict, ChatRequest]:
    """Every text of the request (contents, tool results, tool-call arguments) checked."""
    counts: Counter = Counter()
    checked = []
    score = 0.0
    for item in request_texts(chat):
        if item.role in _UNTRUSTED_ROLES:
            score = max(score, injection_score(item.text).score)
        checked.append(_checked(item.text, policy, registry, vault, counts))
    injection_blocked = (
        policy.injection_threshold is not None
        and score >= policy.injection_threshold
        and policy.injection_action == "block"
    )
    if policy.injection_threshold is not None and score >= policy.injection_threshold:
        counts[("PROMPT_INJECTION", "block" if injection_blocked else "log")] += 1
    reason = (
        (
            f"prompt injection score {score:.2f} reached the route's threshold "
            f"{policy.injection_threshold:.2f}"
        )
        if injection_blocked
        else None
    )
    verdict = _verdict(counts, score, reason, injection_blocked)
    return verdict, with_request_texts(chat, checked)


def check_output(
    text: str, policy: DirectionPolicy, registry: Registry, vault: Vault
) -> tuple[Verdict, str]:
    """An answer's text, checked as the client reads it: as text, also when it looks like JSON
    (which is how the streaming path sees it too)."""
    counts: Counter = Counter()
    checked = _checked(text, policy, registry, vault, counts, read_json=False)
    return _verdict(counts, 0.0, None, False), checked


def check_answer(
    response: ChatResponse, policy: DirectionPolicy, registry: Registry, vault: Vault
) -> tuple[Verdict, ChatResponse]:
    """The answer's text and the arguments of the tool calls the model made, checked."""
    counts: Counter = Counter()
    checked = [
        _checked(item.text, policy, registry, vault, counts, read_json=item.is_arguments)
        for item in response_texts(response)
    ]
    return _verdict(counts, 0.0, None, False), with_response_texts(response, checked)


def restore_answer(response: ChatResponse, vault: Vault) -> ChatResponse:
    """Values redacted from the input put back where the answer repeats their placeholders."""
    restored = [
        restore(item.text, vault, json_string=item.is_arguments)
        for item in response_texts(response)
    ]
    return with_response_texts(response, restored)


def merge_external(
    verdict: Verdict, blocked: bool, findings: list[FindingCount], reason: str | None
) -> Verdict:
    """Fold another guardrail's intervention (Bedrock's) into Interlock's verdict."""
    action = "block" if blocked else "redact"
    strongest = max(verdict.action, action, key=ACTION_STRENGTH.__getitem__)
    return verdict.model_copy(
        update={
            "action": strongest,
            "findings": verdict.findings + findings,
            "reason": (verdict.reason or reason) if strongest == "block" else None,
        }
    )


_ACTING = frozenset({"redact", "block"})


def output_may_act(policy: DirectionPolicy) -> bool:
    """Whether a direction's checks can redact or block anything (not only log)."""
    return policy.default_action in _ACTING or not _ACTING.isdisjoint(policy.actions.values())


def streams_live(policy: GuardrailPolicy) -> bool:
    """Whether an answer could go to the client unchecked as it is generated: only when the
    route's output checks can at most log. (Requests started before streamed answers passed
    through the output checks still decide by this; see workflows/provider_chain.py.)"""
    return policy.bedrock is None and not output_may_act(policy.output)
