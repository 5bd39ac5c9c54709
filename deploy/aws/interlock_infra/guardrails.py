"""A Bedrock guardrail that routes can run after Interlock's own checks, and the one permission
needed to apply it.

Routes name it in their `guardrails.bedrock` block (guardrail_id, guardrail_version): see the
stack outputs. Interlock calls ApplyGuardrail on its own, separately from the model call, so the
processes need bedrock:ApplyGuardrail on this guardrail and nothing else here.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from constructs import Construct

from interlock_infra.settings import DeploymentSettings

# Bedrock's names for the entity types; the route files use Presidio's for the same data.
ANONYMIZED_PII = (
    "EMAIL",
    "PHONE",
    "NAME",
    "ADDRESS",
    "IP_ADDRESS",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
)
BLOCKED_PII = (
    "CREDIT_DEBIT_CARD_NUMBER",
    "CREDIT_DEBIT_CARD_CVV",
    "US_SOCIAL_SECURITY_NUMBER",
    "UK_NATIONAL_INSURANCE_NUMBER",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "PASSWORD",
)
HARMFUL_CONTENT = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


class GuardrailsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploymentSettings, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        self.guardrail = bedrock.CfnGuardrail(
            self,
            "Guardrail",
            name=f"{settings.name_prefix}-gateway",
            description="Interlock: personal data, secrets, prompt attacks and harmful content",
            blocked_input_messaging="The gateway's content policy does not allow this request.",
            blocked_outputs_messaging="The gateway's content policy withheld this answer.",
            content_policy_config=bedrock.CfnGuardrail.ContentPolicyConfigProperty(
                filters_config=[
                    # Prompt attacks are judged on input only; Bedrock requires NONE for output.
                    bedrock.CfnGuardrail.ContentFilterConfigProperty(
                        type="PROMPT_ATTACK", input_strength="HIGH", output_strength="NONE"
                    ),
                    *(
                        bedrock.CfnGuardrail.ContentFilterConfigProperty(
                            type=category, input_strength="MEDIUM", output_strength="MEDIUM"
                        )
                        for category in HARMFUL_CONTENT
                    ),
                ]
            ),
            sensitive_information_policy_config=(
                bedrock.CfnGuardrail.SensitiveInformationPolicyConfigProperty(
                    pii_entities_config=[
                        *(
                            bedrock.CfnGuardrail.PiiEntityConfigProperty(
                                type=entity, action="ANONYMIZE"
                            )
                            for entity in ANONYMIZED_PII
                        ),
                        *(
                            bedrock.CfnGuardrail.PiiEntityConfigProperty(
                                type=entity, action="BLOCK"
                            )
                            for entity in BLOCKED_PII
                        ),
                    ]
                )
            ),
            word_policy_config=bedrock.CfnGuardrail.WordPolicyConfigProperty(
                managed_word_lists_config=[
                    bedrock.CfnGuardrail.ManagedWordsConfigProperty(type="PROFANITY")
                ]
            ),
        )
        # Routes pin a numbered version, so editing the guardrail (its DRAFT) changes no
        # traffic until a route is pointed at a newer version.
        self.version = bedrock.CfnGuardrailVersion(
            self,
            "GuardrailVersion",
            guardrail_identifier=self.guardrail.attr_guardrail_id,
            description="Published by the Interlock CDK app",
        )

        self.apply_policy = iam.ManagedPolicy(
            self,
            "ApplyGuardrailPolicy",
            description="Interlock: apply the gateway's Bedrock guardrail, nothing else",
            statements=[
                iam.PolicyStatement(
                    actions=["bedrock:ApplyGuardrail"],
                    resources=[self.guardrail.attr_guardrail_arn],
                )
            ],
        )

        CfnOutput(self, "GuardrailId", value=self.guardrail.attr_guardrail_id)
        CfnOutput(self, "GuardrailVersionNumber", value=self.version.attr_version)
