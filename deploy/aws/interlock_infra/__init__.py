"""AWS CDK stacks that run Interlock on ECS Fargate: network, data, guardrails and service."""
