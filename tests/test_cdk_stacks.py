"""The AWS CDK app in deploy/aws/: its four stacks, synthesized as `make cdk-synth` does.

Synthesis runs once for the module (jsii starts a Node.js process and loads all of aws-cdk-lib,
which takes seconds); the tests then read the CloudFormation templates it wrote. Nothing here
talks to AWS.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "aws"
STACKS = ("InterlockNetwork", "InterlockData", "InterlockGuardrails", "InterlockService")
SYNTH_TIMEOUT_SECONDS = 240

Templates = dict[str, Any]


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run deploy/aws/app.py in its own process, like `make cdk-synth`, into a temporary dir."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        # The built-in template linter takes longer than the synthesis itself; `make cdk-synth`
        # keeps it. These tests check the properties that matter to us directly.
        "CDK_VALIDATION": "false",
    }
    synthesis = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=DEPLOY_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Loading the assertions library starts this process's own jsii runtime: let it start
    # while the synthesis runs.
    importlib.import_module("aws_cdk.assertions")
    stdout, stderr = synthesis.communicate(timeout=SYNTH_TIMEOUT_SECONDS)
    assert synthesis.returncode == 0, f"synthesis failed:\n{stdout}\n{stderr}"
    return outdir


@pytest.fixture(scope="module")
def templates(cloud_assembly: Path) -> Templates:
    from aws_cdk.assertions import Template

    return {
        stack: Template.from_json(
            json.loads((cloud_assembly / f"{stack}.template.json").read_text())
        )
        for stack in STACKS
    }


def _raw(templates: Templates, stack: str) -> dict[str, Any]:
    return templates[stack].to_json()


def _resources(templates: Templates, stack: str, resource_type: str) -> dict[str, Any]:
    return templates[stack].find_resources(resource_type)


def _only(resources: dict[str, Any]) -> dict[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))["Properties"]


def _policy_statements(templates: Templates) -> list[dict[str, Any]]:
    statements = []
    for stack in STACKS:
        for resource in _raw(templates, stack)["Resources"].values():
            properties = resource.get("Properties", {})
            documents = []
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(properties["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::Role":
                documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
            for document in documents:
                statements += document["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _import_names(value: Any) -> list[str]:
    """Names of the cross-stack exports a template value refers to."""
    text = json.dumps(value)
    return [part.split('"')[0] for part in text.split('"Fn::ImportValue": "')[1:]]


def _container(templates: Templates, process: str) -> dict[str, Any]:
    definitions = _resources(templates, "InterlockService", "AWS::ECS::TaskDefinition")
    for definition in definitions.values():
        for container in definition["Properties"]["ContainerDefinitions"]:
            if container["Name"] == process:
                return container
    raise AssertionError(f"no {process} container")


def test_synthesis_writes_the_four_stacks(cloud_assembly: Path) -> None:
    manifest = json.loads((cloud_assembly / "manifest.json").read_text())
    stacks = {
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == set(STACKS)
    for stack in STACKS:
        template = json.loads((cloud_assembly / f"{stack}.template.json").read_text())
        assert template["Resources"]
        # A fixed placeholder environment, not whatever credentials the machine has.
        environment = manifest["artifacts"][stack]["environment"]
        assert environment == "aws://111111111111/eu-west-1"


def test_the_database_is_private_encrypted_and_protected(templates: Templates) -> None:
    from aws_cdk.assertions import Match

    templates["InterlockData"].has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "PubliclyAccessible": False,
            "StorageEncrypted": True,
            "KmsKeyId": Match.any_value(),
            "DeletionProtection": True,
            "BackupRetentionPeriod": Match.any_value(),
            "MultiAZ": True,
            # The password comes from the generated secret, never from the template.
            "MasterUserPassword": {
                "Fn::Join": [
                    "",
                    Match.array_with([Match.string_like_regexp("resolve:secretsmanager")]),
                ]
            },
        },
    )
    database = _only(_resources(templates, "InterlockData", "AWS::RDS::DBInstance"))
    assert database["BackupRetentionPeriod"] >= 7
    subnet_group = _only(_resources(templates, "InterlockData", "AWS::RDS::DBSubnetGroup"))
    subnets = _import_names(subnet_group["SubnetIds"])
    assert len(subnets) == 2
    assert all("VpcDataSubnet" in name for name in subnets), subnets


def test_redis_encrypts_at_rest_and_in_transit_behind_an_auth_token(templates: Templates) -> None:
    redis = _only(_resources(templates, "InterlockData", "AWS::ElastiCache::ReplicationGroup"))
    assert redis["AtRestEncryptionEnabled"] is True
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["KmsKeyId"] == {"Fn::GetAtt": [_data_key_id(templates), "Arn"]}
    assert "{{resolve:secretsmanager:" in json.dumps(redis["AuthToken"])
    assert redis["AutomaticFailoverEnabled"] is True
    subnet_group = _only(_resources(templates, "InterlockData", "AWS::ElastiCache::SubnetGroup"))
    assert all("VpcDataSubnet" in name for name in _import_names(subnet_group["SubnetIds"]))


def _data_key_id(templates: Templates) -> str:
    keys = _resources(templates, "InterlockData", "AWS::KMS::Key")
    assert len(keys) == 1
    return next(iter(keys))


def test_the_data_key_rotates_and_encrypts_every_secret(templates: Templates) -> None:
    key_id = _data_key_id(templates)
    templates["InterlockData"].has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    secrets = _resources(templates, "InterlockData", "AWS::SecretsManager::Secret")
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_the_secrets_the_processes_read_exist(templates: Templates) -> None:
    secrets = _resources(templates, "InterlockData", "AWS::SecretsManager::Secret")
    names = {secret["Properties"]["Name"] for secret in secrets.values()}
    assert {
        "interlock/database",
        "interlock/codec-keyring",
        "interlock/providers/openai-api-key",
        "interlock/providers/gemini-api-key",
        "interlock/temporal/api-key",
        "interlock/redis-auth-token",
        "interlock/redis-url",
    } <= names
    # Values are generated by Secrets Manager or resolved by CloudFormation; none is written
    # into a template.
    for secret in secrets.values():
        literal = secret["Properties"].get("SecretString")
        assert literal is None or "{{resolve:secretsmanager:" in json.dumps(literal)


def test_no_statement_allows_every_action_or_bedrock_on_every_resource(
    templates: Templates,
) -> None:
    statements = _policy_statements(templates)
    assert statements
    for statement in statements:
        actions = _as_list(statement.get("Action", []))
        assert "*" not in actions, statement
        assert not any(action.endswith(":*") for action in actions), statement
        if any(action.startswith("bedrock:") for action in actions):
            resources = _as_list(statement["Resource"])
            assert "*" not in resources, statement
            assert all("*" not in json.dumps(resource) for resource in resources), statement


def test_model_invocation_is_limited_to_the_configured_models(templates: Templates) -> None:
    bedrock_statements = [
        statement
        for statement in _policy_statements(templates)
        if any(action.startswith("bedrock:") for action in _as_list(statement["Action"]))
    ]
    invoke = [s for s in bedrock_statements if "bedrock:ApplyGuardrail" not in s["Action"]]
    assert len(invoke) == 2  # the gateway's task role and the worker's
    for statement in invoke:
        assert sorted(statement["Action"]) == [
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream",
        ]
        arns = [json.dumps(resource) for resource in statement["Resource"]]
        assert len(arns) == 3
        assert all(":bedrock:eu-west-1::foundation-model/" in arn for arn in arns), arns


def test_only_the_gateway_may_apply_the_guardrail_and_only_that_one(
    templates: Templates,
) -> None:
    policy = _only(_resources(templates, "InterlockGuardrails", "AWS::IAM::ManagedPolicy"))
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Action": "bedrock:ApplyGuardrail",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": ["Guardrail", "GuardrailArn"]},
        }
    ]
    roles = _resources(templates, "InterlockService", "AWS::IAM::Role")
    with_guardrail = [
        role_id
        for role_id, role in roles.items()
        if any(
            "ApplyGuardrailPolicy" in name
            for name in _import_names(role["Properties"].get("ManagedPolicyArns", []))
        )
    ]
    assert len(with_guardrail) == 1
    assert with_guardrail[0].startswith("GatewayTaskRole")


def test_the_guardrail_stops_prompt_attacks_and_personal_data(templates: Templates) -> None:
    guardrail = _only(_resources(templates, "InterlockGuardrails", "AWS::Bedrock::Guardrail"))
    filters = {f["Type"]: f for f in guardrail["ContentPolicyConfig"]["FiltersConfig"]}
    assert filters["PROMPT_ATTACK"]["InputStrength"] == "HIGH"
    assert filters["PROMPT_ATTACK"]["OutputStrength"] == "NONE"
    entities = {
        entity["Type"]: entity["Action"]
        for entity in guardrail["SensitiveInformationPolicyConfig"]["PiiEntitiesConfig"]
    }
    assert entities["EMAIL"] == "ANONYMIZE"
    assert entities["CREDIT_DEBIT_CARD_NUMBER"] == "BLOCK"
    assert entities["AWS_SECRET_KEY"] == "BLOCK"
    templates["InterlockGuardrails"].resource_count_is("AWS::Bedrock::GuardrailVersion", 1)


def test_the_load_balancer_sends_traffic_only_to_ready_gateways(templates: Templates) -> None:
    templates["InterlockService"].has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": "/readyz",
            "Port": 8000,
            "Protocol": "HTTP",
            "TargetType": "ip",
        },
    )
    # Internal by default: applications in the VPC call the gateway.
    templates["InterlockService"].has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"}
    )
    # Liveness is /healthz, checked inside the task.
    health_check = _container(templates, "gateway")["HealthCheck"]["Command"]
    assert "/healthz" in health_check[1]


def test_scaling_limits_and_policies(templates: Templates) -> None:
    targets = _resources(
        templates, "InterlockService", "AWS::ApplicationAutoScaling::ScalableTarget"
    )
    limits = {
        target_id.split("Service")[0]: (
            target["Properties"]["MinCapacity"],
            target["Properties"]["MaxCapacity"],
        )
        for target_id, target in targets.items()
    }
    assert limits == {"Gateway": (2, 10), "Worker": (2, 6)}

    policies = _resources(
        templates, "InterlockService", "AWS::ApplicationAutoScaling::ScalingPolicy"
    )
    metrics = sorted(
        (
            policy_id.split("Service")[0],
            policy["Properties"]["TargetTrackingScalingPolicyConfiguration"][
                "PredefinedMetricSpecification"
            ]["PredefinedMetricType"],
        )
        for policy_id, policy in policies.items()
    )
    assert metrics == [
        ("Gateway", "ALBRequestCountPerTarget"),
        ("Gateway", "ECSServiceAverageCPUUtilization"),
        ("Worker", "ECSServiceAverageCPUUtilization"),
    ]


def test_fargate_services_run_in_private_subnets_without_public_addresses(
    templates: Templates,
) -> None:
    services = _resources(templates, "InterlockService", "AWS::ECS::Service")
    assert len(services) == 2
    for service in services.values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        subnets = _import_names(network["Subnets"])
        assert len(subnets) == 2
        assert all("VpcApplicationSubnet" in name for name in subnets), subnets
        assert service["Properties"]["LaunchType"] == "FARGATE"
    commands = {
        process: _container(templates, process)["Command"] for process in ("gateway", "worker")
    }
    assert commands == {"gateway": ["interlock", "gateway"], "worker": ["interlock", "worker"]}


def test_aws_services_are_reached_through_vpc_endpoints(templates: Templates) -> None:
    endpoints = _resources(templates, "InterlockNetwork", "AWS::EC2::VPCEndpoint")
    services = {
        json.dumps(endpoint["Properties"]["ServiceName"]).split(".")[-1].strip('"]}'): endpoint[
            "Properties"
        ].get("VpcEndpointType", "Gateway")
        for endpoint in endpoints.values()
    }
    assert services == {
        "bedrock-runtime": "Interface",
        "secretsmanager": "Interface",
        "logs": "Interface",
        "api": "Interface",  # com.amazonaws.<region>.ecr.api
        "dkr": "Interface",  # com.amazonaws.<region>.ecr.dkr
        "s3": "Gateway",
    }


def _group_id(templates: Templates, description: str) -> str:
    groups = _resources(templates, "InterlockNetwork", "AWS::EC2::SecurityGroup")
    (group_id,) = [
        group_id
        for group_id, group in groups.items()
        if group["Properties"]["GroupDescription"] == f"Interlock: {description}"
    ]
    return group_id


def _ingress_into(templates: Templates, group_id: str) -> list[dict[str, Any]]:
    group = _resources(templates, "InterlockNetwork", "AWS::EC2::SecurityGroup")[group_id]
    inline = group["Properties"].get("SecurityGroupIngress", [])
    separate = [
        rule["Properties"]
        for rule in _resources(
            templates, "InterlockNetwork", "AWS::EC2::SecurityGroupIngress"
        ).values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    return inline + separate


def test_the_database_admits_only_the_task_groups_on_5432(templates: Templates) -> None:
    database = _group_id(templates, "PostgreSQL")
    rules = _ingress_into(templates, database)
    sources = sorted(rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in rules)
    assert sources == sorted(
        [_group_id(templates, "Gateway tasks"), _group_id(templates, "Worker tasks")]
    )
    assert all((rule["FromPort"], rule["ToPort"]) == (5432, 5432) for rule in rules)
    assert all(rule["IpProtocol"] == "tcp" and "CidrIp" not in rule for rule in rules)


SCRAPERS = "Prometheus scrapers of gateway and worker metrics"


def _sources(rules: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(source group, from port, to port) of TCP rules from a group; fails on any other."""
    for rule in rules:
        assert rule["IpProtocol"] == "tcp", rule
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
    return sorted(
        (rule["SourceSecurityGroupId"]["Fn::GetAtt"][0], rule["FromPort"], rule["ToPort"])
        for rule in rules
    )


def test_gateway_tasks_admit_only_the_load_balancer_and_metrics_scrapers(
    templates: Templates,
) -> None:
    rules = _ingress_into(templates, _group_id(templates, "Gateway tasks"))
    assert _sources(rules) == sorted(
        [
            (_group_id(templates, "Gateway load balancer"), 8000, 8000),
            (_group_id(templates, SCRAPERS), 8000, 8000),
        ]
    )


def test_worker_metrics_port_admits_only_the_scraper_group(templates: Templates) -> None:
    from aws_cdk.assertions import Match

    scrapers = _group_id(templates, SCRAPERS)
    workers = _group_id(templates, "Worker tasks")
    rules = _ingress_into(templates, workers)
    assert _sources(rules) == [(scrapers, 9464, 9464)]
    # No other ingress rule in the network stack covers 9464: no address range, no other group.
    groups = _resources(templates, "InterlockNetwork", "AWS::EC2::SecurityGroup")
    every_ingress = [rule for group_id in groups for rule in _ingress_into(templates, group_id)]
    covering = [
        rule
        for rule in every_ingress
        if rule["IpProtocol"] == "-1" or rule["FromPort"] <= 9464 <= rule["ToPort"]
    ]
    assert covering == rules

    # The scraper group goes out to the two metrics ports only, and is exported.
    scraper = _resources(templates, "InterlockNetwork", "AWS::EC2::SecurityGroup")[scrapers]
    inline_egress = scraper["Properties"].get("SecurityGroupEgress", [])
    assert all(rule["CidrIp"] == "255.255.255.255/32" for rule in inline_egress)
    egress = sorted(
        (
            rule["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["FromPort"],
        )
        for rule in _resources(
            templates, "InterlockNetwork", "AWS::EC2::SecurityGroupEgress"
        ).values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [scrapers, "GroupId"]}
    )
    assert egress == sorted([(_group_id(templates, "Gateway tasks"), 8000), (workers, 9464)])
    templates["InterlockNetwork"].has_output(
        "MetricsScraperSecurityGroupId",
        {
            "Value": {"Fn::GetAtt": [scrapers, "GroupId"]},
            "Export": {"Name": "InterlockNetwork-MetricsScraperSecurityGroupId"},
            "Description": Match.string_like_regexp("ADOT"),
        },
    )


def test_the_worker_serves_metrics_on_all_addresses_of_its_task(templates: Templates) -> None:
    from aws_cdk.assertions import Match

    templates["InterlockService"].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Name": "worker",
                        "Environment": Match.array_with(
                            [
                                {"Name": "INTERLOCK_WORKER_METRICS_HOST", "Value": "0.0.0.0"},
                                {"Name": "INTERLOCK_WORKER_METRICS_PORT", "Value": "9464"},
                            ]
                        ),
                        "PortMappings": [{"ContainerPort": 9464, "Protocol": "tcp"}],
                    }
                )
            ]
        },
    )
    # The gateway's metrics are on its HTTP port, already mapped; it is not told about the
    # worker's settings.
    gateway = _container(templates, "gateway")
    assert [mapping["ContainerPort"] for mapping in gateway["PortMappings"]] == [8000]
    assert not {item["Name"] for item in gateway["Environment"]} & {
        "INTERLOCK_WORKER_METRICS_HOST",
        "INTERLOCK_WORKER_METRICS_PORT",
    }


def test_the_load_balancer_answers_metrics_itself_with_404(templates: Templates) -> None:
    from aws_cdk.assertions import Match

    service = templates["InterlockService"]
    service.resource_count_is("AWS::ElasticLoadBalancingV2::ListenerRule", 1)
    service.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        {
            "ListenerArn": {"Ref": Match.string_like_regexp("^GatewayLoadBalancerHttp")},
            "Priority": 1,
            "Actions": [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "404",
                        "ContentType": "application/json",
                        "MessageBody": Match.string_like_regexp('"code":"not_found"'),
                    },
                }
            ],
            "Conditions": [
                {"Field": "path-pattern", "PathPatternConfig": {"RegexValues": [Match.any_value()]}}
            ],
        },
    )
    rule = _only(
        _resources(templates, "InterlockService", "AWS::ElasticLoadBalancingV2::ListenerRule")
    )
    (pattern,) = rule["Conditions"][0]["PathPatternConfig"]["RegexValues"]
    assert len(pattern) <= 128
    metrics_path = re.compile(pattern)
    # uvicorn percent-decodes the path before routing: each of these reaches /metrics (or its
    # redirect). Anchored at both ends, so search and full-match semantics agree.
    for path in (
        "/metrics",
        "/metrics/",
        "/%6detrics",
        "/%6Detrics",
        "/m%65tri%63%73",
        "/metrics%2F",
    ):
        assert metrics_path.fullmatch(path), path
    for path in ("/v1/chat/completions", "/v1/models", "/readyz", "/healthz", "/codec/decode"):
        assert not metrics_path.search(path), path
    # Everything else goes on to the gateways.
    service.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"DefaultActions": [Match.object_like({"Type": "forward"})]},
    )


def test_processes_get_credentials_as_ecs_secrets_and_temporal_from_env_config(
    templates: Templates,
) -> None:
    for process in ("gateway", "worker"):
        container = _container(templates, process)
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        secrets = {item["Name"] for item in container["Secrets"]}
        assert environment["TEMPORAL_ADDRESS"] == "temporal.example.internal:7233"
        assert environment["TEMPORAL_NAMESPACE"] == "interlock"
        assert environment["TEMPORAL_TLS"] == "true"
        assert "sslmode=require" in json.dumps(environment["INTERLOCK_DATABASE_URL"])
        assert secrets == {
            "PGPASSWORD",
            "INTERLOCK_REDIS_URL",
            "INTERLOCK_CODEC_KEYRING",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "TEMPORAL_API_KEY",
        }
        assert not secrets & set(environment)
        providers = json.loads(environment["INTERLOCK_PROVIDERS"])
        assert {provider["kind"] for provider in providers} == {"openai", "gemini", "bedrock"}


def test_logs_are_kept_for_a_limited_time(templates: Templates) -> None:
    for stack in ("InterlockService", "InterlockData"):
        groups = _resources(templates, stack, "AWS::Logs::LogGroup")
        assert groups
        assert all(group["Properties"]["RetentionInDays"] == 30 for group in groups.values())


def _settings_module(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(DEPLOY_DIR))
    return importlib.import_module("interlock_infra.settings")


def test_context_given_as_strings_on_the_command_line_is_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings_module = _settings_module(monkeypatch)
    context = {
        "gateway_max_tasks": "20",
        "gateway_internet_facing": "true",
        "bedrock_models": "anthropic.claude-3-5-haiku-20241022-v1:0, "
        "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.x-v1:0",
        "temporal_auth": "mtls",
        "certificate_arn": "arn:aws:acm:eu-west-1:111111111111:certificate/abc",
    }
    settings = settings_module.DeploymentSettings.from_context(context.get)
    assert settings.gateway.max_tasks == 20
    assert settings.gateway_internet_facing is True
    assert settings.bedrock_models == (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.x-v1:0",
    )
    assert settings.gateway_listener_port == 443


def test_context_that_cannot_work_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_module = _settings_module(monkeypatch)
    context = {"temporal_auth": "password", "worker_min_tasks": 3, "worker_max_tasks": 2}
    with pytest.raises(ValueError, match="temporal_auth") as refused:
        settings_module.DeploymentSettings.from_context(context.get)
    assert "worker" in str(refused.value)
