"""AWS Bedrock Guardrails (ApplyGuardrail) as an optional second opinion on a route.

Bedrock's verdict is folded into Interlock's: a BLOCKED assessment blocks; an anonymized answer
replaces the text (Bedrock's masks, such as {EMAIL}, are not restorable). SDK retries are off:
the calling activity's retry policy owns retries, and a throttled or failing call surfaces as a
typed error.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contracts.guardrails import BedrockGuardrail, FindingCount

# Bedrock's PII entity names -> Presidio's, where the two agree on meaning.
_PII_NAMES = {
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "CREDIT_DEBIT_CARD_NUMBER": "CREDIT_CARD",
    "US_SOCIAL_SECURITY_NUMBER": "US_SSN",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "NAME": "PERSON",
    "AWS_ACCESS_KEY": "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY": "AWS_SECRET_KEY",
}
_RETRYABLE_CODES = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
}


class BedrockGuardrailError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class BedrockVerdict:
    intervened: bool
    blocked: bool
    texts: list[str]
    """The texts after Bedrock's masking, one for each text sent and in the same order
    (unchanged when it did not intervene or blocked)."""
    findings: list[FindingCount]
    reason: str | None


@functools.lru_cache(maxsize=16)
def _client(region: str | None, endpoint_url: str | None) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
        ),
    )


def apply_guardrail(
    guardrail: BedrockGuardrail, source: Literal["INPUT", "OUTPUT"], texts: list[str]
) -> BedrockVerdict:
    """Bedrock's verdict on the texts, with one text back for each text given, in order."""
    # Empty texts (the content of a turn that only calls tools) have nothing to check.
    sent = [index for index, text in enumerate(texts) if text]
    if not sent:
        return BedrockVerdict(False, False, list(texts), [], None)
    client = _client(guardrail.region, guardrail.endpoint_url)
    try:
        response = client.apply_guardrail(
            guardrailIdentifier=guardrail.guardrail_id,
            guardrailVersion=guardrail.guardrail_version,
            source=source,
            content=[{"text": {"text": texts[index]}} for index in sent],
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise BedrockGuardrailError(
            f"Bedrock ApplyGuardrail failed: {code}", retryable=code in _RETRYABLE_CODES
        ) from None
    except BotoCoreError as exc:
        raise BedrockGuardrailError(
            f"Bedrock ApplyGuardrail unreachable: {type(exc).__name__}", retryable=True
        ) from None
    verdict = _verdict(response, [texts[index] for index in sent])
    checked = list(texts)
    for index, text in zip(sent, verdict.texts, strict=True):
        checked[index] = text
    return dataclasses.replace(verdict, texts=checked)


def _verdict(response: dict[str, Any], texts: list[str]) -> BedrockVerdict:
    if response.get("action") != "GUARDRAIL_INTERVENED":
        return BedrockVerdict(False, False, texts, [], None)
    blocked_policies: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    for assessment in response.get("assessments", []):
        for policy, entries in _assessment_entries(assessment):
            for entry in entries:
                action = entry.get("action", "")
                if action == "BLOCKED":
                    blocked_policies.add(policy)
                if policy == "sensitive information":
                    kind = _PII_NAMES.get(entry.get("type", ""), f"BEDROCK_{entry.get('type')}")
                    mapped = "block" if action == "BLOCKED" else "redact"
                    counts[(kind, mapped)] = counts.get((kind, mapped), 0) + 1
    reason = (
        f"the Bedrock guardrail blocked it ({', '.join(sorted(blocked_policies))})"
        if blocked_policies
        else None
    )
    return BedrockVerdict(
        intervened=True,
        blocked=bool(blocked_policies),
        # A blocked text goes nowhere, and Bedrock then answers with its one blocked message
        # whatever it was sent; only masked texts are used, each in its sender's place.
        texts=texts if blocked_policies else _masked_texts(response, len(texts)),
        findings=[FindingCount(type=k, count=n, action=a) for (k, a), n in sorted(counts.items())],
        reason=reason,
    )


def _masked_texts(response: dict[str, Any], sent: int) -> list[str]:
    """Bedrock's outputs, which stand for the texts sent by position.

    Any other number of outputs cannot be mapped back: passing the texts on unmasked would let
    through what the guardrail masked, so the check fails instead (the route then fails closed).
    """
    outputs = [item.get("text", "") for item in response.get("outputs", [])]
    if len(outputs) != sent:
        raise BedrockGuardrailError(
            f"Bedrock ApplyGuardrail returned {len(outputs)} masked texts for {sent} sent",
            retryable=False,
        )
    return outputs


def _assessment_entries(assessment: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    sensitive = assessment.get("sensitiveInformationPolicy", {})
    words = assessment.get("wordPolicy", {})
    return [
        ("topic", assessment.get("topicPolicy", {}).get("topics", [])),
        ("content", assessment.get("contentPolicy", {}).get("filters", [])),
        ("word", words.get("customWords", []) + words.get("managedWordLists", [])),
        ("sensitive information", sensitive.get("piiEntities", []) + sensitive.get("regexes", [])),
        ("grounding", assessment.get("contextualGroundingPolicy", {}).get("filters", [])),
    ]
