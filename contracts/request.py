"""Input and result of one request workflow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contracts.chat import ChatRequest, ChatResponse
from contracts.guardrails import ACTION_STRENGTH, DirectionPolicy, Verdict
from contracts.routing import RouteTarget
from contracts.steps import AdmitResult, SettleInput, SettleResult

ErrorType = Literal[
    "invalid_request_error",
    "provider_error",
    "rate_limit_error",
    "timeout",
    "service_unavailable",
    "internal_error",
    "client_closed",
]


class RequestInput(BaseModel):
    request_id: str
    tenant_id: str
    model: str
    chat: ChatRequest
    stream_task_queue: str | None = Field(
        None, description="Set for streamed requests: the receiving gateway's private queue."
    )
    provider_task_queue: str = Field(
        "interlock-providers", description="Task queue of the workers that call providers."
    )
    admitted: AdmitResult | None = Field(
        None,
        description="The gateway's admission: the resolved route and the checked input. "
        "Histories recorded before gateways admitted requests lack it and replay with "
        "admission as their first local step.",
    )
    settle_with_call: bool = Field(
        False,
        description="Settle in the same local step as the provider call that answers, where "
        "nothing must run between the two (no Bedrock output check). Histories recorded "
        "before lack it and replay with settle as a step of its own.",
    )
    provider_call_in_task: bool = Field(
        False,
        description="Call the provider as a local step of the workflow task, so that a whole "
        "request runs in one task (set by gateways that call providers themselves); otherwise "
        "as an activity on provider_task_queue. Histories recorded before one-task requests "
        "lack it and replay with the call as an activity.",
    )
    user_hash: str | None = Field(
        None,
        description="The client's end user (the `user` field or x-interlock-user), as a keyed "
        "hash: never the id itself.",
    )
    attributes_at_start: bool = Field(
        False,
        description="The gateway set the route, provider and model search attributes when it "
        "started the workflow, so its end upserts only what a fallback changed and a status "
        "other than ok. Histories recorded before lack it and upsert all of them.",
    )
    deadline_seconds: float | None = Field(
        None,
        gt=0,
        description="How long the request may take from its start, settling included. The "
        "execution timeout is longer: a backstop that fires only if no gateway could run the "
        "request for that long, so a request that lost its gateway still settles by its own "
        "deadline. Histories recorded before lack it; their deadline was the execution timeout.",
    )
    stream_start_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a streamed call may wait for the receiving gateway to pick it up; "
        "past it that gateway is gone, and with it the client.",
    )
    stream_heartbeat_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a streamed call may go without a sign of life from its gateway.",
    )


class RequestError(BaseModel):
    type: ErrorType
    message: str
    http_status: int
    code: str | None = None


class Guardrails(BaseModel):
    input: Verdict = Field(default_factory=Verdict)
    output: Verdict | None = None

    def strongest_action(self) -> str | None:
        """The strongest action either direction took; None when nothing was found."""
        actions = [self.input.action] + ([self.output.action] if self.output else [])
        strongest = max(actions, key=ACTION_STRENGTH.__getitem__)
        return None if strongest == "none" else strongest


class RequestResult(BaseModel):
    request_id: str
    route: str
    target: RouteTarget | None = None
    response: ChatResponse | None = None
    error: RequestError | None = None
    guardrails: Guardrails = Field(default_factory=Guardrails)


class StreamOutputCheck(BaseModel):
    """The route's output policy, applied to a streamed answer as it goes out."""

    policy: DirectionPolicy
    vault: dict[str, str] = Field(default_factory=dict)
    """Placeholder -> value redacted from the input, to put back (encrypted in history only)."""
    restore_output: bool = True


class ProviderCallInput(BaseModel):
    request_id: str
    target: RouteTarget
    chat: ChatRequest
    output_check: StreamOutputCheck | None = Field(
        None, description="Streamed calls only: check the answer before any of it is sent."
    )


class CallAndSettle(BaseModel):
    call: ProviderCallInput
    settle: SettleInput
    """The outcome without the answer, which the step adds when the provider answers."""


class CallAndSettleResult(BaseModel):
    sent: ProviderCallInput
    response: ChatResponse
    """The provider's answer, before the output checks."""
    settled: SettleResult | None = None
    """None when the answer could not be recorded: a settle step of its own then records it."""


class ProviderCallRecord(BaseModel):
    """A provider call made inside the workflow task: a local step's history marker keeps only
    its result, so the result carries what the provider was sent."""

    sent: ProviderCallInput
    response: ChatResponse


# The request ran out of its own time before a provider answered (the workflow's deadline, set
# inside its execution timeout so that the outcome is still recorded).
REQUEST_DEADLINE_PASSED = RequestError(
    type="timeout",
    message="the request ran out of time before a provider answered",
    http_status=504,
    code="request_timeout",
)


def unresolved_route(request_id: str, model: str, message: str) -> RequestResult:
    """The answer to a request whose model names no route that can be served."""
    return RequestResult(
        request_id=request_id,
        route=model,
        error=RequestError(
            type="invalid_request_error", message=message, http_status=404, code="model_not_found"
        ),
    )
