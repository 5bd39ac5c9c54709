"""The four stacks and how they depend on each other, as one CDK app."""

from __future__ import annotations

import aws_cdk as cdk

from interlock_infra.data import DataStack
from interlock_infra.guardrails import GuardrailsStack
from interlock_infra.network import NetworkStack
from interlock_infra.service import ServiceStack
from interlock_infra.settings import DeploymentSettings


def build_app(outdir: str | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir)
    settings = DeploymentSettings.from_context(app.node.try_get_context)
    # A fixed account and region rather than the caller's: synthesis is the same on every
    # machine and needs no credentials. Set them with `-c account=... -c region=...`.
    environment = cdk.Environment(account=settings.account, region=settings.region)
    prefix = settings.name_prefix.capitalize()

    network = NetworkStack(app, f"{prefix}Network", settings=settings, env=environment)
    data = DataStack(app, f"{prefix}Data", settings=settings, network=network, env=environment)
    guardrails = GuardrailsStack(app, f"{prefix}Guardrails", settings=settings, env=environment)
    ServiceStack(
        app,
        f"{prefix}Service",
        settings=settings,
        network=network,
        data=data,
        guardrails=guardrails,
        env=environment,
    )
    cdk.Tags.of(app).add("application", settings.name_prefix)
    return app
