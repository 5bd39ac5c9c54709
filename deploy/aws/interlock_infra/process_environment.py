"""What an Interlock process in a container is told: plain settings and secrets, by variable.

The names are the ones configuration/settings.py and Temporal's env-config read. Secrets reach
the container through ECS, which fetches them with the task's execution role at start; their
values never appear in a template or a task definition.
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from interlock_infra.data import DATABASE_NAME, DATABASE_USER, DataStack
from interlock_infra.settings import DeploymentSettings

OPENAI_KEY_VARIABLE = "OPENAI_API_KEY"
GEMINI_KEY_VARIABLE = "GEMINI_API_KEY"


def bedrock_model_arns(stack: Stack, models: tuple[str, ...]) -> list[str]:
    """Full ARNs as given; a bare model id is that foundation model in the stack's region."""
    return [
        model
        if model.startswith("arn:")
        else stack.format_arn(
            service="bedrock",
            account="",
            resource="foundation-model",
            resource_name=model,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        for model in models
    ]


def bedrock_model_ids(models: tuple[str, ...]) -> list[str]:
    """The ids routes name: the part after the last '/' of an ARN (foundation model or
    inference profile), or the entry itself."""
    return [model.rsplit("/", 1)[-1] for model in models]


def provider_entries(settings: DeploymentSettings) -> list[dict[str, object]]:
    """INTERLOCK_PROVIDERS. Bedrock is limited to the models the task roles may invoke, so a
    route naming any other fails at validation rather than with AccessDenied from AWS."""
    return [
        {
            "name": "openai",
            "kind": "openai",
            "base_url": settings.openai_base_url,
            "api_key_env": OPENAI_KEY_VARIABLE,
        },
        {"name": "gemini", "kind": "gemini", "api_key_env": GEMINI_KEY_VARIABLE},
        {
            "name": "bedrock",
            "kind": "bedrock",
            "region": settings.region,
            "models": bedrock_model_ids(settings.bedrock_models),
        },
    ]


def plain_environment(settings: DeploymentSettings, data: DataStack) -> dict[str, str]:
    database = data.database
    environment = {
        # No password in the URL: libpq takes it from PGPASSWORD (a secret, below).
        "INTERLOCK_DATABASE_URL": (
            f"postgresql://{DATABASE_USER}@{database.db_instance_endpoint_address}"
            f":{database.db_instance_endpoint_port}/{DATABASE_NAME}?sslmode=require"
        ),
        "INTERLOCK_PROVIDERS": json.dumps(provider_entries(settings), separators=(",", ":")),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
    }
    if settings.temporal_auth != "none":
        environment["TEMPORAL_TLS"] = "true"
    return environment


def secret_environment(scope: Construct, data: DataStack) -> dict[str, ecs.Secret]:
    """The secrets by variable, seen from `scope`'s stack by ARN alone.

    Referenced with their KMS key, every grant to read one would also add the reader's role to
    the key's policy in the data stack, and the data stack would then depend on the service
    stack that depends on it. Without the key, a grant covers the secret; the key is granted
    once per execution role by `decrypt_secrets_statement`.
    """
    by_arn = {
        "PGPASSWORD": (data.database.secret, "password"),
        "INTERLOCK_REDIS_URL": (data.redis_url, None),
        "INTERLOCK_CODEC_KEYRING": (data.codec_keyring, None),
        OPENAI_KEY_VARIABLE: (data.openai_api_key, None),
        GEMINI_KEY_VARIABLE: (data.gemini_api_key, None),
        **{variable: (secret, None) for variable, secret in data.temporal_credentials.items()},
    }
    secrets = {}
    for variable, (secret, field) in by_arn.items():
        imported = secretsmanager.Secret.from_secret_attributes(
            scope, f"Secret{variable}", secret_complete_arn=secret.secret_arn
        )
        secrets[variable] = ecs.Secret.from_secrets_manager(imported, field)
    return secrets


def decrypt_secrets_statement(data: DataStack) -> iam.PolicyStatement:
    """Decrypt with the data key, only on behalf of Secrets Manager (reading a secret)."""
    return iam.PolicyStatement(
        actions=["kms:Decrypt"],
        resources=[data.key.key_arn],
        conditions={
            "StringEquals": {"kms:ViaService": f"secretsmanager.{data.region}.amazonaws.com"}
        },
    )
