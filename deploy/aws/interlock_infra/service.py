"""The gateway and the workers on ECS Fargate, the gateway's load balancer, and their scaling."""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from interlock_infra.data import DataStack
from interlock_infra.guardrails import GuardrailsStack
from interlock_infra.network import (
    APPLICATION_SUBNETS,
    GATEWAY_PORT,
    PUBLIC_SUBNETS,
    WORKER_METRICS_PORT,
    NetworkStack,
)
from interlock_infra.process_environment import (
    bedrock_model_arns,
    decrypt_secrets_statement,
    plain_environment,
    secret_environment,
)
from interlock_infra.settings import DeploymentSettings, ServiceScaling

# A chat completion may run this long (INTERLOCK_REQUEST_TIMEOUT_SECONDS, 120 s) without sending
# a byte; the load balancer must neither cut it off nor drain a gateway before it ends.
LONGEST_REQUEST = Duration.seconds(130)
# Fargate's upper bound between SIGTERM and SIGKILL: time for in-flight requests and
# activities to finish.
STOP_TIMEOUT = Duration.seconds(120)

# Liveness inside the task (docs/operations.md: restart a gateway only when /healthz fails),
# with the interpreter the image already has, since it may carry no curl.
GATEWAY_LIVENESS_COMMAND = (
    'python -c "import urllib.request; '
    f"urllib.request.urlopen('http://127.0.0.1:{GATEWAY_PORT}/healthz', timeout=3)\""
)
# Readiness at the load balancer: 200 only while Temporal and the store both answer.
GATEWAY_READINESS_PATH = "/readyz"

# The gateway serves /metrics on its HTTP port, which the load balancer forwards. The listener
# answers that path itself, with the gateway's own 404, so metrics are read only by scrapers
# reaching the tasks directly (network.py's metrics scraper group). uvicorn percent-decodes the
# path before routing (`/%6detrics` is served as /metrics), and ELB does not document matching a
# decoded path, so the pattern matches every spelling, plain or encoded, letter by letter; `.*`
# takes in `/metrics/` (which FastAPI redirects) and anything after.
METRICS_PATH_REGEX = "^/(m|%6[dD])(e|%65)(t|%74)(r|%72)(i|%69)(c|%63)(s|%73).*$"
NOT_FOUND_BODY = json.dumps(
    {
        "error": {
            "message": "Not Found",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    },
    separators=(",", ":"),
)

# InvokeModel also authorizes Converse, InvokeModelWithResponseStream also ConverseStream:
# those two API calls have no IAM actions of their own.
MODEL_INVOCATION_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        network: NetworkStack,
        data: DataStack,
        guardrails: GuardrailsStack,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._settings = settings

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        repository = ecr.Repository.from_repository_name(
            self, "ImageRepository", settings.image_repository
        )
        self._image = ecs.ContainerImage.from_ecr_repository(repository, settings.image_tag)
        self._environment = plain_environment(settings, data)
        self._secrets = secret_environment(self, data)
        self._decrypt_secrets = decrypt_secrets_statement(data)
        self._model_invocation = iam.PolicyStatement(
            actions=MODEL_INVOCATION_ACTIONS,
            resources=bedrock_model_arns(self, settings.bedrock_models),
        )

        gateway_role = self._task_role("Gateway")
        # Only the gateway runs requests, and with them the guardrail checks.
        gateway_role.add_managed_policy(guardrails.apply_policy)
        self.gateway_service = self._fargate_service(
            "Gateway",
            role=gateway_role,
            scaling=settings.gateway,
            command=["interlock", "gateway"],
            extra_environment={
                "INTERLOCK_GATEWAY_HOST": "0.0.0.0",
                "INTERLOCK_GATEWAY_PORT": str(GATEWAY_PORT),
            },
            security_group=network.gateway_group,
            port=GATEWAY_PORT,
            liveness=ecs.HealthCheck(
                command=["CMD-SHELL", GATEWAY_LIVENESS_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                # Start-up brings the schema up to date and registers search attributes.
                start_period=Duration.seconds(60),
            ),
        )
        target_group = self._load_balance_gateway(network)
        gateway_scaling = self._scale_on_cpu(self.gateway_service, settings.gateway)
        gateway_scaling.scale_on_request_count(
            "RequestsPerTask",
            requests_per_target=settings.gateway_requests_per_task,
            target_group=target_group,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )

        self.worker_service = self._fargate_service(
            "Worker",
            role=self._task_role("Worker"),
            scaling=settings.worker,
            command=["interlock", "worker"],
            # On every address of the task, so the metrics scraper group can reach it; the
            # worker group admits nothing else on that port.
            extra_environment={
                "INTERLOCK_WORKER_METRICS_HOST": "0.0.0.0",
                "INTERLOCK_WORKER_METRICS_PORT": str(WORKER_METRICS_PORT),
            },
            security_group=network.worker_group,
            port=None,
            metrics_port=WORKER_METRICS_PORT,
            liveness=None,
        )
        self._scale_on_cpu(self.worker_service, settings.worker)

    def _task_role(self, process: str) -> iam.Role:
        """What the process itself may call. Secrets are not on it: ECS injects them with the
        task's execution role, which is granted exactly the secrets the task names."""
        role = iam.Role(
            self,
            f"{process}TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"Interlock {process.lower()}: Bedrock models it may invoke",
        )
        role.add_to_policy(self._model_invocation)
        return role

    def _fargate_service(
        self,
        process: str,
        *,
        role: iam.Role,
        scaling: ServiceScaling,
        command: list[str],
        extra_environment: dict[str, str],
        security_group: ec2.ISecurityGroup,
        port: int | None,
        liveness: ecs.HealthCheck | None,
        metrics_port: int | None = None,
    ) -> ecs.FargateService:
        """One process as a service; `port` is where a load balancer reaches it, if one does,
        and `metrics_port` where a scraper reads /metrics, if not on `port`."""
        task = ecs.FargateTaskDefinition(
            self,
            f"{process}Task",
            cpu=scaling.cpu,
            memory_limit_mib=scaling.memory_mib,
            task_role=role,
        )
        task.add_to_execution_role_policy(self._decrypt_secrets)
        log_group = logs.LogGroup(
            self,
            f"{process}Logs",
            retention=logs.RetentionDays[self._settings.log_retention_name],
            removal_policy=RemovalPolicy.RETAIN,
        )
        container = task.add_container(
            process.lower(),
            image=self._image,
            command=command,
            environment={**self._environment, **extra_environment},
            secrets=self._secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=process.lower(), log_group=log_group),
            stop_timeout=STOP_TIMEOUT,
            health_check=liveness,
        )
        for mapped in (port, metrics_port):
            if mapped is not None:
                container.add_port_mappings(ecs.PortMapping(container_port=mapped))
        return ecs.FargateService(
            self,
            f"{process}Service",
            cluster=self.cluster,
            task_definition=task,
            # No desired count: a deployment then keeps the number auto scaling chose instead
            # of resetting it; a new service starts with one task and is raised to the minimum.
            vpc_subnets=APPLICATION_SUBNETS,
            assign_public_ip=False,
            security_groups=[security_group],
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            # Load balancer checks start counting only after start-up.
            health_check_grace_period=Duration.seconds(90) if port is not None else None,
            enable_execute_command=False,
        )

    def _load_balance_gateway(self, network: NetworkStack) -> elbv2.ApplicationTargetGroup:
        settings = self._settings
        load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "GatewayLoadBalancer",
            vpc=network.vpc,
            internet_facing=settings.gateway_internet_facing,
            vpc_subnets=PUBLIC_SUBNETS if settings.gateway_internet_facing else APPLICATION_SUBNETS,
            security_group=network.load_balancer_group,
            idle_timeout=LONGEST_REQUEST,
            drop_invalid_header_fields=True,
        )
        if settings.certificate_arn:
            listener = load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(settings.certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                # Who may connect is the network stack's ingress rule, not 0.0.0.0/0.
                open=False,
            )
        else:
            listener = load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
        target_group = listener.add_targets(
            "Gateway",
            port=GATEWAY_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.gateway_service],
            deregistration_delay=LONGEST_REQUEST,
            health_check=elbv2.HealthCheck(
                path=GATEWAY_READINESS_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                # A store or Temporal blip takes a gateway out of rotation only after a while;
                # ECS replaces targets that stay unhealthy, which a restart would not fix.
                unhealthy_threshold_count=6,
            ),
        )
        self._keep_metrics_private(listener)
        CfnOutput(self, "GatewayUrl", value=self._gateway_url(load_balancer.load_balancer_dns_name))
        return target_group

    def _keep_metrics_private(self, listener: elbv2.ApplicationListener) -> None:
        """Answer /metrics at the listener, before the default action forwards to gateways.

        A level-1 rule: the level-2 ListenerCondition offers only wildcard path patterns,
        whose documented characters do not include `%`, so they cannot name the encoded
        spellings.
        """
        elbv2.CfnListenerRule(
            self,
            "MetricsNotPublic",
            listener_arn=listener.listener_arn,
            priority=1,
            conditions=[
                elbv2.CfnListenerRule.RuleConditionProperty(
                    field="path-pattern",
                    path_pattern_config=elbv2.CfnListenerRule.PathPatternConfigProperty(
                        regex_values=[METRICS_PATH_REGEX]
                    ),
                )
            ],
            actions=[
                elbv2.CfnListenerRule.ActionProperty(
                    type="fixed-response",
                    fixed_response_config=elbv2.CfnListenerRule.FixedResponseConfigProperty(
                        status_code="404",
                        content_type="application/json",
                        message_body=NOT_FOUND_BODY,
                    ),
                )
            ],
        )

    def _gateway_url(self, dns_name: str) -> str:
        scheme = "https" if self._settings.certificate_arn else "http"
        return f"{scheme}://{dns_name}"

    @staticmethod
    def _scale_on_cpu(
        service: ecs.FargateService, scaling: ServiceScaling
    ) -> ecs.ScalableTaskCount:
        capacity = service.auto_scale_task_count(
            min_capacity=scaling.min_tasks, max_capacity=scaling.max_tasks
        )
        capacity.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=scaling.cpu_target_percent,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        return capacity
