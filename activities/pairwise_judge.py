"""Pairwise judging: which of two answers to the same request is better, by a judge model.

Judges prefer whichever answer they are shown first (or second) more often than its quality
warrants. The judge is therefore asked twice, once in each order, and an answer wins only if it
is preferred both times; a preference that follows the position is a tie. Both picks are kept,
so how much a judge leans on position can be read from the record.
"""

from __future__ import annotations

import re
from typing import Literal

from contracts.chat import ChatMessage, ChatRequest, SamplingParams

Pick = Literal["1", "2", "tie"]
Verdict = Literal["win", "loss", "tie"]

JUDGE_INSTRUCTIONS = (
    "You compare two answers to the same request. Judge which answer serves the request "
    "better: correct, complete, clear, and no longer than needed. Their order is arbitrary; do "
    "not prefer an answer for its position or its length. Reply with one token: 1 if Answer 1 "
    "is better, 2 if Answer 2 is better, or tie."
)
# The request is shown as its last user message, cut to this many characters, and so is each
# answer: a judge is asked about substance, and a bounded prompt bounds its cost.
MOST_CHARS = 4000
_PICK = re.compile(r"\b(1|2|tie)\b", re.IGNORECASE)


def judge_request(question: str, first: str, second: str) -> ChatRequest:
    prompt = (
        f"Request:\n{question[:MOST_CHARS]}\n\n"
        f"Answer 1:\n{first[:MOST_CHARS]}\n\n"
        f"Answer 2:\n{second[:MOST_CHARS]}"
    )
    return ChatRequest(
        messages=[
            ChatMessage(role="system", content=JUDGE_INSTRUCTIONS),
            ChatMessage(role="user", content=prompt),
        ],
        params=SamplingParams(temperature=0.0, max_tokens=4),
    )


def question_of(chat: ChatRequest) -> str:
    return next((m.content for m in reversed(chat.messages) if m.role == "user"), "")


def parse_pick(text: str) -> Pick:
    """The judge's first 1, 2 or tie; anything else is a tie (no preference shown)."""
    found = _PICK.search(text)
    return "tie" if found is None else found[1].lower()  # type: ignore[return-value]


def combined(arm_first: Pick, arm_second: Pick) -> Verdict:
    """The verdict for the arm whose answer was Answer 1 in the first asking and Answer 2 in the
    second: a win or a loss only when both askings agree."""
    if arm_first == "1" and arm_second == "2":
        return "win"
    if arm_first == "2" and arm_second == "1":
        return "loss"
    return "tie"
