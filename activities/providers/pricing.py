"""What a call cost: per-model prices (USD per million tokens) shipped as data, overridable.

The shipped table is pricing.json beside this module. INTERLOCK_PRICING_FILE names a JSON file of
the same shape whose entries replace or add to it. Bedrock model ids are matched with and without
a cross-region inference prefix (`us.`, `eu.`, `apac.`), and a model that is not listed costs 0
(and is counted as unpriced), never an error: an answer must not be lost over a price.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from activities.providers.model_catalog import lookup
from contracts.chat import Usage

_SHIPPED = Path(__file__).with_name("pricing.json")


def _load(path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for kind, models in raw.items():
        if kind.startswith("_"):
            continue
        table[kind] = {model: (float(p[0]), float(p[1])) for model, p in models.items()}
    return table


@functools.lru_cache(maxsize=1)
def price_table() -> dict[str, dict[str, tuple[float, float]]]:
    table = _load(_SHIPPED)
    override = os.environ.get("INTERLOCK_PRICING_FILE")
    if override:
        for kind, models in _load(Path(override)).items():
            table.setdefault(kind, {}).update(models)
    return table


def price_of(kind: str, model: str) -> tuple[float, float] | None:
    return lookup(price_table().get(kind, {}), model)


def cost_usd(kind: str, model: str, usage: Usage) -> float:
    price = price_of(kind, model)
    if price is None:
        return 0.0
    per_input, per_output = price
    return (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1_000_000
