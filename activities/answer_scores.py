"""Cheap automatic scores of an answer, taken as it is settled: quality signals that cost no
model call, recorded on the outcome row for rollouts and experiments to compare.

- json_valid: the answer is JSON (an object for `json_object`) and meets the schema the request
  gave (`json_schema`); None when the request asked for no JSON.
- tool_calls_valid: every tool call names an offered tool and its arguments are a JSON object
  that meets that tool's parameter schema; None when the answer made no tool call.
- refused: the answer declines the request (a content filter, or the phrasings models use to
  decline), judged on its opening only.
- answer_chars: the answer's length in characters.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from contracts.chat import ChatResponse
from contracts.steps import AnswerExpectations

# Declining phrasings, in the opening of an answer (a refusal comes first; a quoted one later in
# a long answer is not one).
_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am)? (?:sorry|afraid)[^.!?]{0,40}?\b(?:can(?:no|')t|won't|unable|not able)"
    r"|i (?:can(?:no|')t|won't|will not|am unable to|'m unable to|am not able to) "
    r"(?:help|assist|comply|provide|do that|answer|fulfil|support|create|share|continue)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')t|don't|do not))",
    re.IGNORECASE,
)
_OPENING = 300


@dataclass(frozen=True)
class AnswerScores:
    json_valid: bool | None
    tool_calls_valid: bool | None
    refused: bool
    answer_chars: int


def score_answer(response: ChatResponse, expects: AnswerExpectations | None) -> AnswerScores:
    expects = expects or AnswerExpectations()
    return AnswerScores(
        json_valid=_json_valid(response.text, expects) if expects.json_answer else None,
        tool_calls_valid=_tool_calls_valid(response, expects) if response.tool_calls else None,
        refused=response.finish_reason == "content_filter"
        or bool(_REFUSAL.search(response.text[:_OPENING])),
        answer_chars=len(response.text),
    )


def _json_valid(text: str, expects: AnswerExpectations) -> bool:
    try:
        answer = json.loads(text)
    except ValueError:
        return False
    if expects.json_schema is None:
        return isinstance(answer, dict)
    return _meets(answer, expects.json_schema)


def _tool_calls_valid(response: ChatResponse, expects: AnswerExpectations) -> bool:
    for call in response.tool_calls:
        if call.name not in expects.tools:
            return False
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            return False
        if not isinstance(arguments, dict) or not _meets(arguments, expects.tools[call.name]):
            return False
    return True


def _meets(value: Any, schema: dict[str, Any]) -> bool:
    validator = _validator(json.dumps(schema, sort_keys=True))
    # A schema that is itself invalid cannot be met or failed: the answer is not blamed.
    return validator is None or validator.is_valid(value)


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator | None:
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return Draft202012Validator(schema)
