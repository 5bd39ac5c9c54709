"""Declarative route files: YAML documents, one route each, validated before anything is written.

The document shape is the store's own (contracts.routing.RouteTarget for each variant,
contracts.guardrails.GuardrailPolicy for `guardrails`), but unknown keys are errors here: a
misspelt key in a file must not be silently ignored. docs/routes.md describes the format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from contracts.guardrails import Action, BedrockGuardrail, DirectionPolicy, GuardrailPolicy
from contracts.routing import CachePolicy, RouteTarget, RoutingPolicy
from contracts.slo import Slo
from guardrails.registry import NER_ENTITY_TYPES, PII_ENTITY_TYPES, SECRET_ENTITY_TYPES
from store.routes import RouteConfig, check_targets

KNOWN_ENTITY_TYPES = frozenset((*PII_ENTITY_TYPES, *SECRET_ENTITY_TYPES, *NER_ENTITY_TYPES))
# Route names are what clients send as `model`; no '/' so they never look like provider/model.
RouteName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class VariantSpec(RouteTarget):
    model_config = ConfigDict(extra="forbid")

    # The same fields, bounded as the route_variants columns are.
    variant: str = Field(min_length=1, max_length=64)
    provider: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=256)
    weight: float = Field(1.0, ge=0, allow_inf_nan=False)

    @field_validator("options")
    @classmethod
    def _json_values(cls, options: dict[str, Any]) -> dict[str, Any]:
        # Stored as JSON: a YAML date or a non-string key would not come back as written.
        try:
            same = json.loads(json.dumps(options)) == options
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ValueError(
                "options must be plain JSON values: strings, numbers, booleans, null, "
                "lists and mappings with string keys"
            )
        return options


def _known_entity_type(name: str) -> str:
    # A misspelt type would never match a finding, and the policy would silently not apply.
    if name not in KNOWN_ENTITY_TYPES:
        raise ValueError(f"unknown entity type; known: {', '.join(sorted(KNOWN_ENTITY_TYPES))}")
    return name


EntityType = Annotated[str, AfterValidator(_known_entity_type)]


class DirectionSpec(DirectionPolicy):
    model_config = ConfigDict(extra="forbid")

    actions: dict[EntityType, Action] = Field(default_factory=dict)


class BedrockSpec(BedrockGuardrail):
    model_config = ConfigDict(extra="forbid")


class GuardrailSpec(GuardrailPolicy):
    model_config = ConfigDict(extra="forbid")

    input: DirectionSpec = Field(default_factory=DirectionSpec)
    output: DirectionSpec = Field(default_factory=DirectionSpec)
    bedrock: BedrockSpec | None = None


class CacheSpec(CachePolicy):
    model_config = ConfigDict(extra="forbid")


class RoutingSpec(RoutingPolicy):
    model_config = ConfigDict(extra="forbid")


class RouteSpec(BaseModel):
    """One document of a route file."""

    model_config = ConfigDict(extra="forbid")

    name: RouteName
    description: str = ""
    variants: list[VariantSpec] = Field(min_length=1)
    guardrails: GuardrailSpec = Field(default_factory=GuardrailSpec)
    cache: CacheSpec | None = None
    routing: RoutingSpec | None = None
    slos: list[Slo] = Field(default_factory=list)

    @field_validator("slos")
    @classmethod
    def _unique_slo_names(cls, slos: list[Slo]) -> list[Slo]:
        names = [slo.name for slo in slos]
        if len(set(names)) != len(names):
            raise ValueError(f"SLO names must be unique within a route: {names}")
        return slos

    @field_validator("variants")
    @classmethod
    def _variant_rules(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        check_targets(variants)
        return variants

    def to_config(self) -> RouteConfig:
        """The plain contract types, so the config compares equal to what the store reads back."""
        return RouteConfig(
            name=self.name,
            description=self.description,
            targets=[RouteTarget.model_validate(v.model_dump()) for v in self.variants],
            guardrails=GuardrailPolicy.model_validate(self.guardrails.model_dump()),
            cache=None if self.cache is None else CachePolicy(ttl_seconds=self.cache.ttl_seconds),
            routing=None
            if self.routing is None
            else RoutingPolicy.model_validate(self.routing.model_dump()),
            slos=[Slo.model_validate(slo.model_dump()) for slo in self.slos],
        )


class RouteFileError(Exception):
    """Why a route file cannot be applied: one line per problem, each naming where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_route_file(path: Path) -> list[RouteConfig]:
    """Every route the file defines, or RouteFileError listing every problem it has."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteFileError([f"{path}: cannot read it: {exc}"]) from exc
    return parse_routes(text, str(path))


def parse_routes(text: str, source: str) -> list[RouteConfig]:
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.MarkedYAMLError as exc:
        raise RouteFileError([f"{source}: {_yaml_problem(exc)}"]) from exc
    except yaml.YAMLError as exc:
        raise RouteFileError([f"{source}: not valid YAML: {exc}"]) from exc
    problems: list[str] = []
    specs: list[RouteSpec] = []
    first_seen: dict[str, int] = {}
    for index, document in enumerate(documents, start=1):
        if document is None:  # an empty document, e.g. after a trailing '---'
            continue
        where = f"{source}: document {index}"
        if not isinstance(document, dict):
            problems.append(f"{where}: expected a mapping of route fields, got {_kind(document)}")
            continue
        name = document.get("name")
        if isinstance(name, str) and name:
            where += f" (route {name!r})"
            if name in first_seen:
                problems.append(
                    f"{where}: name: the route is already defined in document {first_seen[name]}"
                )
            first_seen.setdefault(name, index)
        try:
            specs.append(RouteSpec.model_validate(document))
        except ValidationError as exc:
            problems.extend(
                f"{where}: {_field(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
                for error in exc.errors()
            )
    if not specs and not problems:
        problems.append(f"{source}: defines no routes")
    if problems:
        raise RouteFileError(problems)
    return [spec.to_config() for spec in specs]


def dump_route(config: RouteConfig, version: int | None = None) -> str:
    """YAML for one route that `parse_routes` reads back as an equal config."""
    document: dict[str, Any] = {"name": config.name}
    if config.description:
        document["description"] = config.description
    document["variants"] = [
        {
            "variant": t.variant,
            "provider": t.provider,
            "model": t.model,
            "weight": t.weight,
            **({"options": t.options} if t.options else {}),
            **({"system_prompt": t.system_prompt} if t.system_prompt is not None else {}),
        }
        for t in config.targets
    ]
    guardrails = config.guardrails.model_dump(mode="json", exclude_defaults=True)
    if guardrails:
        document["guardrails"] = guardrails
    if config.cache is not None:
        document["cache"] = config.cache.model_dump(mode="json")
    if config.routing is not None:
        document["routing"] = config.routing.model_dump(mode="json", exclude_defaults=True)
    if config.slos:
        document["slos"] = [slo.model_dump(mode="json", exclude_none=True) for slo in config.slos]
    header = "" if version is None else f"# route {config.name}, version {version}\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if not isinstance(key, str | int | float | bool | None):
                continue  # SafeLoader itself reports keys that cannot be keys
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
    return where + (exc.problem or exc.context or "not valid YAML")


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(document)"


def _kind(value: object) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)
