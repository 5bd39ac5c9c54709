"""What a deployment can change, read from CDK context values, with the defaults in one place.

Context arrives as JSON from cdk.json or as plain strings from `cdk -c key=value`, so every value
is converted here and checked once; the stacks only see typed fields. No AWS import, so this
module is cheap to test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TEMPORAL_AUTH_MODES = ("api_key", "mtls", "none")
# CloudWatch Logs accepts only these retention periods; the names are aws_logs.RetentionDays'.
LOG_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}
# On-demand Bedrock models from activities/providers/pricing.json; a deployment names its own.
DEFAULT_BEDROCK_MODELS = (
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
)


@dataclass(frozen=True)
class ServiceScaling:
    """Size and limits of one Fargate service."""

    cpu: int
    memory_mib: int
    min_tasks: int
    max_tasks: int
    cpu_target_percent: int


@dataclass(frozen=True)
class DeploymentSettings:
    name_prefix: str
    account: str
    region: str
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    nat_gateways: int

    gateway_internet_facing: bool
    gateway_ingress_cidr: str
    certificate_arn: str | None

    image_repository: str
    image_tag: str

    temporal_address: str
    temporal_namespace: str
    temporal_auth: str

    openai_base_url: str
    bedrock_models: tuple[str, ...]

    gateway: ServiceScaling
    gateway_requests_per_task: int
    worker: ServiceScaling

    database_instance_type: str
    database_allocated_gib: int
    database_backup_days: int
    redis_node_type: str
    log_retention_days: int

    @property
    def gateway_listener_port(self) -> int:
        return 443 if self.certificate_arn else 80

    @property
    def log_retention_name(self) -> str:
        """The aws_logs.RetentionDays member for log_retention_days."""
        return LOG_RETENTION_NAMES[self.log_retention_days]

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeploymentSettings:
        """Build from a context getter such as `app.node.try_get_context`."""
        region = _text(get, "region", "eu-west-1")
        vpc_cidr = _text(get, "vpc_cidr", "10.40.0.0/16")
        settings = cls(
            name_prefix=_text(get, "name_prefix", "interlock"),
            account=_text(get, "account", "111111111111"),
            region=region,
            availability_zones=_texts(get, "availability_zones", (f"{region}a", f"{region}b")),
            vpc_cidr=vpc_cidr,
            nat_gateways=_integer(get, "nat_gateways", 2),
            gateway_internet_facing=_flag(get, "gateway_internet_facing", False),
            # An internal load balancer admits the VPC by default; peered networks add theirs.
            gateway_ingress_cidr=_text(get, "gateway_ingress_cidr", vpc_cidr),
            certificate_arn=_text(get, "certificate_arn", "") or None,
            image_repository=_text(get, "image_repository", "interlock"),
            image_tag=_text(get, "image_tag", "latest"),
            temporal_address=_text(get, "temporal_address", "temporal.example.internal:7233"),
            temporal_namespace=_text(get, "temporal_namespace", "interlock"),
            temporal_auth=_text(get, "temporal_auth", "api_key"),
            openai_base_url=_text(get, "openai_base_url", "https://api.openai.com/v1"),
            bedrock_models=_texts(get, "bedrock_models", DEFAULT_BEDROCK_MODELS),
            gateway=ServiceScaling(
                cpu=_integer(get, "gateway_cpu", 1024),
                memory_mib=_integer(get, "gateway_memory_mib", 2048),
                # docs/operations.md: at least two gateways, so one can die mid-request.
                min_tasks=_integer(get, "gateway_min_tasks", 2),
                max_tasks=_integer(get, "gateway_max_tasks", 10),
                cpu_target_percent=_integer(get, "gateway_cpu_target_percent", 60),
            ),
            gateway_requests_per_task=_integer(get, "gateway_requests_per_task", 1000),
            worker=ServiceScaling(
                cpu=_integer(get, "worker_cpu", 1024),
                memory_mib=_integer(get, "worker_memory_mib", 2048),
                # Two workers let rollouts survive losing one (docs/rollouts.md).
                min_tasks=_integer(get, "worker_min_tasks", 2),
                max_tasks=_integer(get, "worker_max_tasks", 6),
                cpu_target_percent=_integer(get, "worker_cpu_target_percent", 60),
            ),
            database_instance_type=_text(get, "database_instance_type", "t4g.medium"),
            database_allocated_gib=_integer(get, "database_allocated_gib", 50),
            database_backup_days=_integer(get, "database_backup_days", 14),
            redis_node_type=_text(get, "redis_node_type", "cache.t4g.small"),
            log_retention_days=_integer(get, "log_retention_days", 30),
        )
        settings.check()
        return settings

    def check(self) -> None:
        problems = []
        if self.temporal_auth not in TEMPORAL_AUTH_MODES:
            problems.append(f"temporal_auth must be one of {TEMPORAL_AUTH_MODES}")
        for name, scaling in (("gateway", self.gateway), ("worker", self.worker)):
            if not 1 <= scaling.min_tasks <= scaling.max_tasks:
                problems.append(f"{name}: need 1 <= min_tasks <= max_tasks")
        if self.log_retention_days not in LOG_RETENTION_NAMES:
            problems.append(f"log_retention_days must be one of {sorted(LOG_RETENTION_NAMES)}")
        if not self.bedrock_models:
            problems.append("bedrock_models must name at least one model")
        if self.database_backup_days < 1:
            problems.append("database_backup_days must be at least 1")
        if problems:
            raise ValueError("invalid deployment context: " + "; ".join(problems))


def _raw(get: Callable[[str], Any], key: str, default: Any) -> Any:
    value = get(key)
    return default if value is None else value


def _text(get: Callable[[str], Any], key: str, default: str) -> str:
    return str(_raw(get, key, default))


def _integer(get: Callable[[str], Any], key: str, default: int) -> int:
    return int(_raw(get, key, default))


def _flag(get: Callable[[str], Any], key: str, default: bool) -> bool:
    value = _raw(get, key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _texts(get: Callable[[str], Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list from cdk.json, or from `-c key=a,b` / `-c 'key=["a","b"]'` on the command line."""
    value = _raw(get, key, default)
    if isinstance(value, str):
        stripped = value.strip()
        value = json.loads(stripped) if stripped.startswith("[") else stripped.split(",")
    return tuple(str(item).strip() for item in value if str(item).strip())
