"""Every text of a request or an answer that guardrails check, and putting checked texts back.

A request's texts are, message by message, its content (for a tool message: the tool's result)
and then the arguments of each tool call it carries; an answer's are its text and then the
arguments of each tool call the model made. Checks (Interlock's own, Bedrock's, and on the
streaming path) take the flat list and hand back a list of the same length, which goes back by
position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.chat import ChatRequest, ChatResponse, Role


@dataclass(frozen=True, slots=True)
class ChatText:
    text: str
    role: Role
    """Who wrote it: the message's role; "assistant" for an answer."""
    is_arguments: bool
    """Tool-call arguments: JSON text, so values restored into it are escaped."""


def request_texts(chat: ChatRequest) -> list[ChatText]:
    texts = []
    for message in chat.messages:
        texts.append(ChatText(message.content, message.role, is_arguments=False))
        texts.extend(
            ChatText(call.arguments, message.role, is_arguments=True) for call in message.tool_calls
        )
    return texts


def with_request_texts(chat: ChatRequest, texts: Sequence[str]) -> ChatRequest:
    """`chat` with its texts replaced, in request_texts' order."""
    _check_count(len(texts), len(request_texts(chat)))
    remaining = iter(texts)
    messages = []
    for message in chat.messages:
        content = next(remaining)
        calls = [c.model_copy(update={"arguments": next(remaining)}) for c in message.tool_calls]
        messages.append(message.model_copy(update={"content": content, "tool_calls": calls}))
    return chat.model_copy(update={"messages": messages})


def response_texts(response: ChatResponse) -> list[ChatText]:
    return [
        ChatText(response.text, "assistant", is_arguments=False),
        *(ChatText(c.arguments, "assistant", is_arguments=True) for c in response.tool_calls),
    ]


def with_response_texts(response: ChatResponse, texts: Sequence[str]) -> ChatResponse:
    """`response` with its texts replaced, in response_texts' order."""
    _check_count(len(texts), 1 + len(response.tool_calls))
    calls = [
        call.model_copy(update={"arguments": arguments})
        for call, arguments in zip(response.tool_calls, texts[1:], strict=True)
    ]
    return response.model_copy(update={"text": texts[0], "tool_calls": calls})


def _check_count(given: int, expected: int) -> None:
    # Texts put back in the wrong places would pass unchecked text on as checked.
    if given != expected:
        raise ValueError(f"{given} texts given back for {expected} checkable texts")
