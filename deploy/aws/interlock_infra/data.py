"""The store (PostgreSQL), the response cache (Redis) and every secret the processes read."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from interlock_infra.network import DATA_SUBNETS, REDIS_PORT, NetworkStack
from interlock_infra.settings import DeploymentSettings

DATABASE_NAME = "interlock"
DATABASE_USER = "interlock"


class DataStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        network: NetworkStack,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._prefix = settings.name_prefix

        # One customer-managed key for the secrets and the data at rest, rotated yearly by KMS.
        self.key = kms.Key(
            self,
            "DataKey",
            description="Interlock: secrets, database and cache encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.database = self._create_database(settings, network)
        self.redis, self.redis_url = self._create_redis(settings, network)

        # Created with random placeholder values: operators put the real ones in before the
        # service stack's first deployment (deploy/aws/README.md).
        self.codec_keyring = self._secret(
            "CodecKeyring",
            "codec-keyring",
            'Payload codec key ring, {"active": id, "keys": {id: base64 of 32 bytes}}',
            # Losing it makes every encrypted workflow history unreadable.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.openai_api_key = self._secret(
            "OpenAiApiKey", "providers/openai-api-key", "API key of the OpenAI-compatible provider"
        )
        self.gemini_api_key = self._secret(
            "GeminiApiKey", "providers/gemini-api-key", "Gemini API key"
        )
        self.temporal_credentials = self._temporal_credentials(settings.temporal_auth)

    def _secret(
        self,
        construct_id: str,
        name: str,
        description: str,
        *,
        value: SecretValue | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            secret_name=f"{self._prefix}/{name}",
            description=f"Interlock: {description}",
            encryption_key=self.key,
            secret_string_value=value,
            removal_policy=removal_policy,
        )

    def _temporal_credentials(self, auth: str) -> dict[str, secretsmanager.Secret]:
        """Secrets by the Temporal env-config variable each one fills."""
        if auth == "api_key":
            return {
                "TEMPORAL_API_KEY": self._secret(
                    "TemporalApiKey", "temporal/api-key", "Temporal Cloud API key"
                )
            }
        if auth == "mtls":
            return {
                "TEMPORAL_TLS_CLIENT_CERT_DATA": self._secret(
                    "TemporalClientCertificate",
                    "temporal/tls-client-cert",
                    "Temporal mTLS client certificate (PEM)",
                ),
                "TEMPORAL_TLS_CLIENT_KEY_DATA": self._secret(
                    "TemporalClientKey",
                    "temporal/tls-client-key",
                    "Temporal mTLS client private key (PEM)",
                ),
            }
        return {}

    def _create_database(
        self, settings: DeploymentSettings, network: NetworkStack
    ) -> rds.DatabaseInstance:
        engine = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16)
        instance_identifier = f"{self._prefix}-postgres"
        # RDS writes exported logs to this group; creating it here is what gives it a retention.
        logs.LogGroup(
            self,
            "PostgresLogs",
            log_group_name=f"/aws/rds/instance/{instance_identifier}/postgresql",
            retention=logs.RetentionDays[settings.log_retention_name],
            removal_policy=RemovalPolicy.DESTROY,
        )
        return rds.DatabaseInstance(
            self,
            "Postgres",
            instance_identifier=instance_identifier,
            engine=engine,
            instance_type=ec2.InstanceType(settings.database_instance_type),
            vpc=network.vpc,
            vpc_subnets=DATA_SUBNETS,
            security_groups=[network.database_group],
            publicly_accessible=False,
            multi_az=True,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                DATABASE_USER, secret_name=f"{self._prefix}/database", encryption_key=self.key
            ),
            # The processes connect with sslmode=require; the server refuses anything else.
            parameter_group=rds.ParameterGroup(
                self, "PostgresParameters", engine=engine, parameters={"rds.force_ssl": "1"}
            ),
            storage_type=rds.StorageType.GP3,
            allocated_storage=settings.database_allocated_gib,
            max_allocated_storage=settings.database_allocated_gib * 4,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            backup_retention=Duration.days(settings.database_backup_days),
            delete_automated_backups=False,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
            auto_minor_version_upgrade=True,
        )

    def _create_redis(
        self, settings: DeploymentSettings, network: NetworkStack
    ) -> tuple[elasticache.CfnReplicationGroup, secretsmanager.Secret]:
        # ElastiCache refuses '/', '"' and '@' in an auth token; letters and digits are safe in
        # the URL below too.
        auth_token = secretsmanager.Secret(
            self,
            "RedisAuthToken",
            secret_name=f"{self._prefix}/redis-auth-token",
            description="Interlock: Redis AUTH token",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Interlock response cache",
            subnet_ids=network.vpc.select_subnets(subnet_type=DATA_SUBNETS.subnet_type).subnet_ids,
        )
        redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description="Interlock response cache",
            engine="redis",
            engine_version="7.1",
            cache_node_type=settings.redis_node_type,
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            port=REDIS_PORT,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[network.redis_group.security_group_id],
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.key_arn,
            transit_encryption_enabled=True,
            # A CloudFormation dynamic reference: the token itself never enters the template.
            auth_token=auth_token.secret_value.unsafe_unwrap(),
            auto_minor_version_upgrade=True,
        )
        # INTERLOCK_REDIS_URL carries the token, and redis-py reads it only from the URL, so the
        # whole URL is a secret; CloudFormation fills in the token when it creates it. Rotating
        # the token means updating this secret too.
        url = (
            f"rediss://:{auth_token.secret_value.unsafe_unwrap()}"
            f"@{redis.attr_primary_end_point_address}:{redis.attr_primary_end_point_port}/0"
        )
        redis_url = self._secret(
            "RedisUrl",
            "redis-url",
            "INTERLOCK_REDIS_URL of the response cache",
            value=SecretValue.unsafe_plain_text(url),
        )
        return redis, redis_url
