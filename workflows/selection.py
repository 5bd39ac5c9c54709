"""Choosing a route variant: weighted, and a pure function of the request id.

Hashing the request id (rather than drawing a random number) makes the choice reproducible from
the id alone, which is what an analyst checking an assignment wants.
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

from contracts.routing import RouteTarget

T = TypeVar("T")


def unit_interval(key: str) -> float:
    """A uniform number in [0, 1) derived from `key`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def by_weight(shares: list[tuple[T, float]], point: float) -> T:
    """The item whose share the point in [0, 1) falls in; items without a share take none."""
    weighted = [(item, share) for item, share in shares if share > 0]
    if not weighted:
        raise ValueError("nothing has a positive weight")
    point *= sum(share for _, share in weighted)
    for item, share in weighted:
        point -= share
        if point < 0:
            return item
    return weighted[-1][0]


def pick_target(targets: list[RouteTarget], request_id: str) -> RouteTarget:
    try:
        return by_weight([(t, t.weight) for t in targets], unit_interval(request_id))
    except ValueError:
        raise ValueError("no variant has a positive weight") from None


MAX_FALLBACKS = 3
# After these, trying another variant cannot help: the request itself is at fault.
_NO_FALLBACK = {"ProviderBadRequest", "StreamFailedAfterOutput", "ClientGone"}
# After a content-policy refusal only a different provider may answer differently.
_OTHER_PROVIDER_ONLY = {"ContentPolicyRefusal"}


def fallback_chain(targets: list[RouteTarget], first: RouteTarget) -> list[RouteTarget]:
    """The chosen variant, then the route's other variants in their configured order.

    Variants with weight 0 are fallbacks only: they take no traffic of their own but are tried
    when others fail, which is how a route names a larger-context or second-provider backup.
    """
    rest = [t for t in targets if t.variant != first.variant]
    return [first, *rest][: 1 + MAX_FALLBACKS]


def next_fallback(
    chain: list[RouteTarget], failed_index: int, error_class: str | None
) -> int | None:
    """Index of the variant to try after chain[failed_index] failed with error_class."""
    if error_class in _NO_FALLBACK:
        return None
    failed = chain[failed_index]
    for index in range(failed_index + 1, len(chain)):
        if error_class in _OTHER_PROVIDER_ONLY and chain[index].provider == failed.provider:
            continue
        return index
    return None


def arm_name(index: int) -> str:
    return "primary" if index == 0 else f"fallback-{index}"
