"""The response cache: a route's answers served again to the same tenant's identical requests.

The key hashes everything that shapes an answer: the tenant, the route and its version (so a
changed variant, prompt or guardrail policy starts afresh), the variant the request goes to
(provider, model, options, system prompt), and the checked request whole: messages, tools,
tool_choice, response_format and every sampling parameter, seed included. A hit is looked up at
admission and skips the provider call; it is still checked by the route's output guardrails and
recorded as an outcome with `cache_hit`, no tokens and no cost.

Only whole answers that finished normally are kept: never an error, a refusal, a blocked or
redacted answer, one cut at max_tokens, or a streamed one; and nothing for a request whose input
was redacted, since its answer is restored with that request's own values. A client's
`Cache-Control: no-cache` skips the lookup (its fresh answer is still kept).
"""

from __future__ import annotations

import hashlib
import json
import logging

from contracts.chat import ChatRequest, ChatResponse, Usage
from contracts.guardrails import Verdict
from contracts.routing import ResolvedRoute, RouteTarget
from contracts.steps import AdmitResult, SettleInput
from store.response_cache import ResponseStore
from workflows.selection import pick_target

log = logging.getLogger(__name__)


def cache_key(tenant_id: str, route: ResolvedRoute, target: RouteTarget, chat: ChatRequest) -> str:
    shaped = {
        "tenant": tenant_id,
        "route": route.route,
        "version": route.version,
        "variant": target.model_dump(mode="json", exclude={"weight"}),
        "request": chat.model_dump(mode="json"),
    }
    canonical = json.dumps(shaped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, store: ResponseStore) -> None:
        self._store = store

    def look_up(
        self,
        tenant_id: str,
        request_id: str,
        admitted: AdmitResult,
        streamed: bool,
        no_cache: bool,
    ) -> AdmitResult:
        """The admitted request with its cached answer, or with the key its answer would be
        kept under; unchanged when the route or the request does not use the cache."""
        route, checked = admitted.route, admitted.checked
        if (
            route.cache is None
            or route.error is not None
            or streamed
            or checked is None
            or checked.verdict.action == "block"
            or checked.vault
        ):
            return admitted
        key = cache_key(tenant_id, route, pick_target(route.targets, request_id), checked.chat)
        found = None
        if not no_cache:
            try:
                found = self._store.get(tenant_id, key)
            except Exception as exc:  # a cache that cannot answer is a miss, never an error
                log.warning("response cache unavailable, answering without it: %s", exc)
        if found is None:
            return admitted.model_copy(update={"cache_key": key})
        cached = ChatResponse.model_validate_json(found).model_copy(
            update={"usage": Usage(), "cost_usd": 0.0, "latency_ms": 0.0}
        )
        return admitted.model_copy(update={"cached": cached})

    def keep(
        self,
        settle: SettleInput,
        response: ChatResponse | None,
        status: str,
        output_verdict: Verdict | None,
    ) -> None:
        """Keep the answer settling just checked, if it is one worth serving again."""
        if (
            settle.cache_key is None
            or settle.cache_ttl_seconds is None
            or response is None
            or status != "ok"
            or settle.error_code is not None
            or response.finish_reason not in ("stop", "tool_calls")
            or (output_verdict is not None and output_verdict.action in ("redact", "block"))
            or settle.vault
        ):
            return
        try:
            self._store.put(
                settle.outcome.tenant_id,
                settle.cache_key,
                response.model_dump_json(),
                settle.cache_ttl_seconds,
            )
        except Exception as exc:  # the answer is already the client's; a lost entry is a miss
            log.warning("answer of %s not cached: %s", settle.outcome.request_id, exc)
