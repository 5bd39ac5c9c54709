"""Custom search attributes Interlock writes, so requests can be filtered in the Web UI.

Search attributes are stored in plaintext even when payloads are encrypted: only identifiers and
names go here (tenant id, route, provider, model, status), never anything a user typed.

Each upsert costs the history service a visibility write on top of the ones at start and close.
So a gateway sets at start everything it already knows, and the workflow's end upserts only what
the request changed: the provider and model when a fallback answered, and the status when it
was not ok.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate

from contracts.routing import RouteTarget

TENANT = SearchAttributeKey.for_keyword("InterlockTenant")
ROUTE = SearchAttributeKey.for_keyword("InterlockRoute")
PROVIDER = SearchAttributeKey.for_keyword("InterlockProvider")
MODEL = SearchAttributeKey.for_keyword("InterlockModel")
STATUS = SearchAttributeKey.for_keyword("InterlockStatus")
# A rollout's stage ("canary 5%", "active", "baseline"); its status goes in InterlockStatus.
STAGE = SearchAttributeKey.for_keyword("InterlockStage")

# On SLO monitoring runs: route/slo/severity of each burn-rate alert firing at that check.
ALERTS = SearchAttributeKey.for_keyword_list("InterlockAlerts")
ALL = (TENANT, ROUTE, PROVIDER, MODEL, STATUS, STAGE, ALERTS)


def at_start(
    tenant_id: str, route: str | None, target: RouteTarget | None
) -> list[SearchAttributePair]:
    """What a request's workflow starts with: the tenant, and the resolved route with the
    variant it will try first when the gateway has admitted it (only a resolved, hence
    operator-defined, route name may become a search attribute)."""
    pairs = [SearchAttributePair(TENANT, tenant_id)]
    if route is not None and target is not None:
        pairs += [
            SearchAttributePair(ROUTE, route),
            SearchAttributePair(PROVIDER, target.provider),
            SearchAttributePair(MODEL, target.model),
        ]
    return pairs


def at_end(
    labelled_at_start: bool,
    route_unset: str | None,
    first: RouteTarget,
    final: RouteTarget,
    status: str,
) -> list[SearchAttributeUpdate]:
    """The upsert a request's workflow ends with. Started with its labels, it changes only what
    the request changed: provider and model after a fallback, and a status other than ok (so an
    ok request upserts nothing, and `InterlockStatus` finds the requests worth a look).
    Requests started without them (older histories) set them all here, with the route unless
    it was set before (`route_unset`)."""
    if not labelled_at_start:
        return [
            *([ROUTE.value_set(route_unset)] if route_unset is not None else []),
            PROVIDER.value_set(final.provider),
            MODEL.value_set(final.model),
            STATUS.value_set(status),
        ]
    updates: list[SearchAttributeUpdate] = []
    if (final.provider, final.model) != (first.provider, first.model):
        updates += [PROVIDER.value_set(final.provider), MODEL.value_set(final.model)]
    if status != "ok":
        updates.append(STATUS.value_set(status))
    return updates


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute at launch."""
    flags: list[str] = []
    for key in ALL:
        kind = "KeywordList" if key is ALERTS else "Keyword"
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags
