"""What a call cost: per-model prices (USD per million tokens) shipped as data, overridable.

The shipped table is pricing.json beside this module. INTERLOCK_PRICING_FILE names a JSON file of
the same shape whose entries replace or add to it. Bedrock model ids are matched with and without
a cross-region inference prefix (`us.`, `eu.`, `apac.`), and a model that is not listed costs 0
(and is counted as unpriced), never an error: an answer must not be lost over a price.
"""

from __future__ import annotations

import functools
from pathlib import Path

from activities.providers.model_catalog import layered_table, lookup
from contracts.chat import Usage

_SHIPPED = Path(__file__).with_name("pricing.json")


@functools.lru_cache(maxsize=1)
def price_table() -> dict[str, dict[str, tuple[float, float]]]:
    return layered_table(
        _SHIPPED, "INTERLOCK_PRICING_FILE", lambda price: (float(price[0]), float(price[1]))
    )


def price_of(kind: str, model: str) -> tuple[float, float] | None:
    return lookup(price_table().get(kind, {}), model)


def cost_usd(kind: str, model: str, usage: Usage) -> float:
    price = price_of(kind, model)
    if price is None:
        return 0.0
    per_input, per_output = price
    return (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1_000_000
