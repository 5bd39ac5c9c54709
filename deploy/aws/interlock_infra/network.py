"""The VPC, the security groups between Interlock's parts, and private routes to AWS services."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from interlock_infra.settings import DeploymentSettings

GATEWAY_PORT = 8000
# INTERLOCK_WORKER_METRICS_PORT: `interlock worker` serves /metrics there (the gateway serves
# its own on GATEWAY_PORT).
WORKER_METRICS_PORT = 9464
POSTGRES_PORT = 5432
REDIS_PORT = 6379

APPLICATION_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
DATA_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
PUBLIC_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)


class NetworkStack(Stack):
    """Three tiers of subnets: public (NAT, an internet-facing load balancer if wanted),
    application (tasks; out to providers and Temporal Cloud through NAT) and data (no route out).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploymentSettings, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.vpc_cidr),
            # Named zones rather than a lookup, so synthesis needs no AWS credentials.
            availability_zones=list(settings.availability_zones),
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="Application",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=20,
                ),
                ec2.SubnetConfiguration(
                    name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        self.vpc.add_flow_log("FlowLog")

        self.load_balancer_group = self._group(
            "GatewayLoadBalancer", "Gateway load balancer", allow_all_outbound=False
        )
        # Tasks call model providers and Temporal Cloud on the internet, whose addresses are not
        # known in advance, so their outbound traffic stays open; inbound is what is limited.
        self.gateway_group = self._group("GatewayTasks", "Gateway tasks", allow_all_outbound=True)
        self.worker_group = self._group("WorkerTasks", "Worker tasks", allow_all_outbound=True)
        self.database_group = self._group("Database", "PostgreSQL", allow_all_outbound=False)
        self.redis_group = self._group("Redis", "Redis", allow_all_outbound=False)
        self.endpoint_group = self._group(
            "ServiceEndpoints", "VPC interface endpoints", allow_all_outbound=False
        )
        # Not attached to anything here: whoever runs Prometheus (an ADOT collector, a
        # Prometheus task) adds it to the scraper's network interfaces, beside the scraper's own
        # group. It may reach the processes' metrics ports and nothing else.
        self.metrics_scraper_group = self._group(
            "MetricsScraper",
            "Prometheus scrapers of gateway and worker metrics",
            allow_all_outbound=False,
        )

        self._admit_clients(settings)
        self._admit_metrics_scrapers()
        self._create_endpoints()

    def _group(
        self, construct_id: str, purpose: str, *, allow_all_outbound: bool
    ) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            construct_id,
            vpc=self.vpc,
            description=f"Interlock: {purpose}",
            allow_all_outbound=allow_all_outbound,
        )

    def _admit_clients(self, settings: DeploymentSettings) -> None:
        listener_port = ec2.Port.tcp(settings.gateway_listener_port)
        self.load_balancer_group.add_ingress_rule(
            ec2.Peer.ipv4(settings.gateway_ingress_cidr), listener_port, "Gateway clients"
        )
        self.load_balancer_group.connections.allow_to(
            self.gateway_group, ec2.Port.tcp(GATEWAY_PORT), "Load balancer to gateway tasks"
        )
        for tasks in (self.gateway_group, self.worker_group):
            self.database_group.add_ingress_rule(
                tasks, ec2.Port.tcp(POSTGRES_PORT), "Interlock processes to PostgreSQL"
            )
            self.redis_group.add_ingress_rule(
                tasks, ec2.Port.tcp(REDIS_PORT), "Interlock processes to the response cache"
            )
            self.endpoint_group.add_ingress_rule(
                tasks, ec2.Port.tcp(443), "Interlock processes to AWS service endpoints"
            )

    def _admit_metrics_scrapers(self) -> None:
        """The gateway's /metrics is on its HTTP port; the worker's on a port of its own. Only
        the scraper group gets in, never an address range: the VPC's CIDR would let every task
        and endpoint in it read the metrics, or call the gateway around its load balancer."""
        scrapers = self.metrics_scraper_group.connections
        scrapers.allow_to(
            self.gateway_group,
            ec2.Port.tcp(GATEWAY_PORT),
            "Metrics scrapers to gateway tasks (/metrics)",
        )
        scrapers.allow_to(
            self.worker_group,
            ec2.Port.tcp(WORKER_METRICS_PORT),
            "Metrics scrapers to worker tasks (/metrics)",
        )
        CfnOutput(
            self,
            "MetricsScraperSecurityGroupId",
            value=self.metrics_scraper_group.security_group_id,
            description="Security group to attach to a Prometheus scraper (e.g. an ADOT "
            f"collector): gateway tasks on {GATEWAY_PORT}, worker tasks on {WORKER_METRICS_PORT}",
            export_name=f"{self.stack_name}-MetricsScraperSecurityGroupId",
        )

    def _create_endpoints(self) -> None:
        # Model calls, secrets, logs and image pulls stay inside the VPC instead of going
        # through NAT: cheaper per byte, and Bedrock traffic never leaves AWS's network.
        interface_services = {
            "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
            "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
            "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
            "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
        }
        for construct_id, service in interface_services.items():
            self.vpc.add_interface_endpoint(
                construct_id,
                service=service,
                subnets=APPLICATION_SUBNETS,
                security_groups=[self.endpoint_group],
                private_dns_enabled=True,
                # The endpoint group already admits exactly the task groups.
                open=False,
            )
        # ECR keeps image layers in S3.
        self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[APPLICATION_SUBNETS]
        )
