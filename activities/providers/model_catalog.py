"""What a model can do: its context window, tools, structured output, shipped as data.

The shipped table is models.json beside this module; INTERLOCK_MODEL_CATALOG_FILE names a JSON
file of the same shape whose entries replace or add to it (a self-hosted model behind an
OpenAI-compatible server is described there). A model that is not listed is unknown in every
respect, and unknown is not "no": a request is only kept from a variant for what it is known to
lack, while a route's explicit requirement is met only by what is known.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_SHIPPED = Path(__file__).with_name("models.json")
# Bedrock's cross-region inference profiles prefix a model id with the geography it runs in.
REGION_PREFIXES = ("us.", "eu.", "apac.", "global.")

_V = TypeVar("_V")


def lookup(models: dict[str, _V], model: str) -> _V | None:
    """`model`'s entry, matching Bedrock ids with and without a cross-region profile prefix."""
    if model in models:
        return models[model]
    for prefix in REGION_PREFIXES:
        if model.startswith(prefix) and model[len(prefix) :] in models:
            return models[model[len(prefix) :]]
    return None


@dataclass(frozen=True)
class ModelCapabilities:
    """None where unknown."""

    context_window: int | None = None
    tools: bool | None = None
    structured_output: bool | None = None

    def has(self, capability: str) -> bool | None:
        return getattr(self, capability)


UNKNOWN = ModelCapabilities()
CAPABILITIES = ("tools", "structured_output")


def layered_table(
    shipped: Path, override_variable: str, entry: Callable[[Any], _V]
) -> dict[str, dict[str, _V]]:
    """{provider kind: {model: entry}} from the shipped JSON file, with the entries of the file
    named by `override_variable` (same shape) replacing or adding to them. Keys starting with
    '_' are notes."""

    def read(path: Path) -> dict[str, dict[str, _V]]:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return {
            kind: {model: entry(value) for model, value in models.items()}
            for kind, models in raw.items()
            if not kind.startswith("_")
        }

    table = read(shipped)
    override = os.environ.get(override_variable)
    if override:
        for kind, models in read(Path(override)).items():
            table.setdefault(kind, {}).update(models)
    return table


def _capabilities(entry: dict[str, Any]) -> ModelCapabilities:
    return ModelCapabilities(
        context_window=entry.get("context_window"),
        tools=entry.get("tools"),
        structured_output=entry.get("structured_output"),
    )


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, ModelCapabilities]]:
    return layered_table(_SHIPPED, "INTERLOCK_MODEL_CATALOG_FILE", _capabilities)


def capabilities_of(kind: str, model: str) -> ModelCapabilities:
    return lookup(catalog().get(kind, {}), model) or UNKNOWN
