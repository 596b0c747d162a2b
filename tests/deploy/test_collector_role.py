"""The collector role as code: the CloudFormation template and the Terraform module grant exactly
the README's read-only permissions, cover every AWS call the collectors make, and validate."""

import ast
import json
import re
from pathlib import Path

import botocore.session
import hcl2
import jsonschema
import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "cloudformation" / "collector-role.yaml"
POLICIES = DEPLOY / "policies"
MODULE = DEPLOY / "terraform" / "collector-role"
# AWS authorises these V2 operations with the V1 action names.
ACTION_OF_OPERATION = {
    "access-analyzer:ListFindingsV2": "access-analyzer:ListFindings",
    "access-analyzer:GetFindingV2": "access-analyzer:GetFinding",
}
SERVICE_PREFIXES = {
    "iam": "iam",
    "accessanalyzer": "access-analyzer",
    "organizations": "organizations",
}
# Actions that authorise something other than one API operation of the same name.
PERMISSION_ONLY_ACTIONS = {"iam:PassRole", "s3:ListBucket"}

POLICY_GRAMMAR = {
    "type": "object",
    "required": ["Version", "Statement"],
    "additionalProperties": False,
    "properties": {
        "Version": {"const": "2012-10-17"},
        "Statement": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["Effect", "Action", "Resource"],
                "additionalProperties": False,
                "properties": {
                    "Sid": {"type": "string", "pattern": "^[A-Za-z0-9]+$"},
                    "Effect": {"enum": ["Allow", "Deny"]},
                    "Action": {
                        "oneOf": [
                            {"$ref": "#/$defs/action"},
                            {"type": "array", "items": {"$ref": "#/$defs/action"}, "minItems": 1},
                        ]
                    },
                    "Resource": {
                        "oneOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        ]
                    },
                    "Condition": {"type": "object"},
                },
            },
        },
    },
    "$defs": {"action": {"type": "string", "pattern": "^[a-z0-9-]+:[A-Za-z0-9]+$"}},
}


def actions_of(document: dict) -> set[str]:
    found = set()
    for statement in document["Statement"]:
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def readme_read_only_policy() -> dict:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The read-only role each account needs", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def readme_organization_actions() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    sentence = re.search(r"For Organizations discovery.*?\n\(", readme, re.S).group(0)
    return set(re.findall(r"`(organizations:[A-Za-z]+)`", sentence))


def policy_file(name: str, **values: str) -> dict:
    """A policy file as Terraform's templatefile() renders it."""
    text = (POLICIES / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    assert "${" not in text, f"{name} has a placeholder the module does not fill"
    return json.loads(text)


def template() -> dict:
    parsed, problems = decode(str(TEMPLATE))
    assert not problems
    return parsed


def inline_policies(resource: dict) -> dict[str, dict]:
    """Inline policies by name; Fn::If branches (optional policies) count as present."""
    found = {}
    for policy in resource["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        found[policy["PolicyName"]] = policy["PolicyDocument"]
    return found


def operations_the_collectors_call() -> set[str]:
    """Every botocore client method named in findings/aws, as IAM actions."""
    session = botocore.session.get_session()
    methods = {}
    for service, prefix in SERVICE_PREFIXES.items():
        client = session.create_client(service, region_name="us-east-1")
        for method, operation in client.meta.method_to_api_mapping.items():
            methods.setdefault(method, set()).add(f"{prefix}:{operation}")
    called = set()
    for path in (ROOT / "findings" / "aws").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                name = node.args[0].value
            called |= methods.get(name, set())
    return {ACTION_OF_OPERATION.get(action, action) for action in called}


def test_cfn_lint_finds_nothing_in_the_template():
    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_the_template_grants_exactly_the_readme_permissions():
    readme = actions_of(readme_read_only_policy())
    policies = inline_policies(template()["Resources"]["CollectorRole"])
    assert actions_of(policies["IAMReviewReadOnly"]) == readme
    assert actions_of(policy_file("collector-read-only.json")) == readme
    assert actions_of(policies["IAMReviewOrganizationDiscovery"]) == readme_organization_actions()
    assert actions_of(policy_file("organization-reader.json")) == readme_organization_actions()


def test_every_aws_call_the_collectors_make_is_granted():
    called = operations_the_collectors_call()
    assert {"iam:GetAccountAuthorizationDetails", "access-analyzer:GetFinding"} <= called
    organization = {action for action in called if action.startswith("organizations:")}
    assert called - organization <= actions_of(readme_read_only_policy())
    assert organization <= readme_organization_actions()


def test_the_role_trusts_only_the_collector_with_the_external_id():
    (statement,) = template()["Resources"]["CollectorRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "CollectorPrincipalArn"}}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert template()["Parameters"]["ExternalId"]["NoEcho"] is True


def test_the_policy_generation_role_is_optional_and_reads_only_the_trail():
    parsed = template()
    role = parsed["Resources"]["PolicyGenerationRole"]
    assert role["Condition"] == "GeneratesPolicies"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "access-analyzer.amazonaws.com"}
    service = inline_policies(role)["ReadCloudTrailForPolicyGeneration"]
    assert actions_of(service) == actions_of(
        policy_file("policy-generation-service.json", partition="aws", trail_bucket="trail")
    )
    start = inline_policies(parsed["Resources"]["CollectorRole"])["IAMReviewPolicyGeneration"]
    assert actions_of(start) == actions_of(
        policy_file("policy-generation-start.json", generation_role_arn="arn:aws:iam::1:role/x")
    )


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("collector-read-only.json", {}),
        ("organization-reader.json", {}),
        ("policy-generation-service.json", {"partition": "aws", "trail_bucket": "trail-logs"}),
        ("policy-generation-start.json", {"generation_role_arn": "arn:aws:iam::1:role/x"}),
    ],
)
def test_every_policy_document_follows_the_iam_policy_grammar(name, values):
    document = policy_file(name, **values)
    jsonschema.validate(document, POLICY_GRAMMAR)
    session = botocore.session.get_session()
    known = {
        f"{prefix}:{operation}"
        for service, prefix in {**SERVICE_PREFIXES, "cloudtrail": "cloudtrail", "s3": "s3"}.items()
        for operation in session.get_service_model(service).operation_names
    }
    assert actions_of(document) - known - PERMISSION_ONLY_ACTIONS == set()


def test_the_terraform_module_uses_the_same_policy_files_and_the_external_id():
    main = hcl2.load((MODULE / "main.tf").open())
    files = set(re.findall(r'"\$\{local\.policies\}/([\w.-]+)"', (MODULE / "main.tf").read_text()))
    assert files == {p.name for p in POLICIES.glob("*.json")}
    trust = next(
        block['"trust_the_collector"']
        for data in main["data"]
        for block in [data.get('"aws_iam_policy_document"', {})]
        if '"trust_the_collector"' in block
    )
    condition = trust["statement"][0]["condition"][0]
    assert condition["variable"] == '"sts:ExternalId"'
    assert condition["values"] == ["${var.external_id}"]
    variables = {
        name.strip('"')
        for block in hcl2.load((MODULE / "variables.tf").open())["variable"]
        for name in block
    }
    assert {"collector_principal_arn", "external_id"} <= variables
