"""Applying a route's policy to a request and to its answer."""

from __future__ import annotations

from collections import Counter

from contracts.chat import ChatRequest
from contracts.guardrails import (
    ACTION_STRENGTH,
    DirectionPolicy,
    FindingCount,
    GuardrailPolicy,
    Verdict,
)
from guardrails.findings import Finding, Registry
from guardrails.injection import injection_score
from guardrails.redaction import Vault, redact

# System and developer prompts are the operator's own instructions; injection is looked for in
# what users and tools put into the conversation.
_UNTRUSTED_ROLES = ("user", "tool")


def _apply(
    text: str, findings: list[Finding], policy: DirectionPolicy, vault: Vault, counts: Counter
) -> str:
    to_redact = []
    for finding in findings:
        action = policy.action_for(finding.type)
        if action == "allow":
            continue
        counts[(finding.type, action)] += 1
        if action == "redact":
            to_redact.append(finding)
    return redact(text, to_redact, vault) if to_redact else text


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
    counts: Counter = Counter()
    messages = []
    score = 0.0
    for message in chat.messages:
        if message.role in _UNTRUSTED_ROLES:
            score = max(score, injection_score(message.content).score)
        findings = registry.scan(message.content)
        content = _apply(message.content, findings, policy, vault, counts)
        messages.append(message.model_copy(update={"content": content}))
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
    return verdict, chat.model_copy(update={"messages": messages})


def check_output(
    text: str, policy: DirectionPolicy, registry: Registry, vault: Vault
) -> tuple[Verdict, str]:
    counts: Counter = Counter()
    checked = _apply(text, registry.scan(text), policy, vault, counts)
    return _verdict(counts, 0.0, None, False), checked


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


def streams_live(policy: GuardrailPolicy) -> bool:
    """Whether an answer may go to the client as it is generated: only when the route's output
    checks can at most log, since streamed text cannot be redacted or withdrawn afterwards."""
    output = policy.output
    acting = {"redact", "block"}
    return (
        policy.bedrock is None
        and output.default_action not in acting
        and not acting.intersection(output.actions.values())
    )
