"""The collector role as code: the CloudFormation template, the Terraform module's policy files
and the README grant exactly the AWS calls the code makes (no more, no fewer), and validate."""

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
    "sts": "sts",
}
# Actions that authorise something other than one API operation of the same name.
PERMISSION_ONLY_ACTIONS = {"iam:PassRole", "s3:ListBucket"}
# What the collector's policies may grant beyond the calls the code makes, and why. Anything
# else granted and never called is over-privilege and fails the test.
GRANTED_BUT_NOT_CALLED = {
    # StartPolicyGeneration hands the CloudTrail access role to Access Analyzer: AWS checks that
    # the caller may pass that role (policy-generation-start.json, on that one role only).
    "iam:PassRole",
}
# "Generate from CloudTrail" is optional (an account given a trail and an access role): its
# calls are granted by policy-generation-start.json, attached only then, not by the base policy.
POLICY_GENERATION_CALLS = {
    "access-analyzer:StartPolicyGeneration",
    "access-analyzer:GetGeneratedPolicy",
}
# Organizations calls every account's role makes (which organization it is in); the rest of
# Organizations is discovery's, granted only in the management or delegated-admin account.
MEMBER_ORGANIZATION_CALLS = {"organizations:DescribeOrganization"}

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


def readme_section(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n{heading}\n", 1)[1]
    return re.split(r"\n#{2,3} ", section, maxsplit=1)[0]


def readme_json(heading: str) -> list[dict]:
    """The JSON snippets of a README section, parsed (a snippet that does not parse fails)."""
    return [
        json.loads(block)
        for block in re.findall(r"```json\n(.*?)```", readme_section(heading), re.S)
    ]


def readme_trust_policy() -> dict:
    return readme_json("### The read-only role each account needs")[0]


def readme_read_only_policy() -> dict:
    return readme_json("### The read-only role each account needs")[1]


def readme_collector_policy() -> dict:
    (policy,) = readme_json("### The collector's own permissions")
    return policy


def readme_paragraph_actions(start: str) -> set[str]:
    """The actions named in the README paragraph that begins with ``start``."""
    section = readme_section("### The read-only role each account needs")
    paragraph = re.search(rf"^{re.escape(start)}.*?(?:\n\n|\Z)", section, re.S | re.M).group(0)
    return set(re.findall(r"`([a-z-]+:[A-Za-z]+)`", paragraph))


def readme_organization_actions() -> set[str]:
    return readme_paragraph_actions("For Organizations discovery")


def readme_policy_generation_actions() -> set[str]:
    return readme_paragraph_actions('"Generate from CloudTrail" is optional')


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


def operations_the_code_calls() -> set[str]:
    """Every botocore client method named in findings/aws, as IAM actions. Only that package
    talks to AWS (tests/findings/test_architecture.py keeps boto3 out of the rest)."""
    session = botocore.session.get_session()
    methods = {}
    for service, prefix in SERVICE_PREFIXES.items():
        client = session.create_client(service, region_name="us-east-1")
        for method, operation in client.meta.method_to_api_mapping.items():
            methods.setdefault(method, set()).add(f"{prefix}:{operation}")
    called = set()
    for path in (ROOT / "findings" / "aws").glob("*.py"):
        # A module named after a service talks to that service only: organizations.py's
        # list_policies is Organizations', not IAM's method of the same name.
        only = SERVICE_PREFIXES.get(path.stem)
        methods_here = (
            {
                name: {a for a in actions if a.startswith(f"{only}:")}
                for name, actions in methods.items()
            }
            if only
            else methods
        )
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):  # called, or handed to a pager: org.list_roots
                called |= methods_here.get(node.attr, set())
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                called |= methods_here.get(node.args[0].value, set())
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
    generation = policy_file(
        "policy-generation-start.json", generation_role_arn="arn:aws:iam::1:role/x"
    )
    assert actions_of(policies["IAMReviewPolicyGeneration"]) == actions_of(generation)
    assert readme_policy_generation_actions() == actions_of(generation)


def test_the_policies_grant_exactly_what_the_code_calls():
    called = operations_the_code_calls()
    assert {"iam:GetAccountAuthorizationDetails", "access-analyzer:GetFinding"} <= called
    granted = (
        actions_of(policy_file("collector-read-only.json"))
        | actions_of(policy_file("organization-reader.json"))
        | actions_of(
            policy_file("policy-generation-start.json", generation_role_arn="arn:aws:iam::1:role/x")
        )
        | actions_of(readme_collector_policy())
    )
    never_called = granted - called - GRANTED_BUT_NOT_CALLED
    not_granted = called - granted
    assert (never_called, not_granted) == (set(), set())


def test_each_policy_grants_the_calls_of_its_own_feature_only():
    called = operations_the_code_calls()
    discovery = {
        action for action in called if action.startswith("organizations:")
    } - MEMBER_ORGANIZATION_CALLS
    assert called >= MEMBER_ORGANIZATION_CALLS
    assumed = {action for action in called if action.startswith("sts:")}
    assert called >= POLICY_GENERATION_CALLS
    assert actions_of(policy_file("collector-read-only.json")) == (
        called - discovery - assumed - POLICY_GENERATION_CALLS
    )
    assert actions_of(policy_file("organization-reader.json")) == discovery
    generation = policy_file(
        "policy-generation-start.json", generation_role_arn="arn:aws:iam::1:role/x"
    )
    assert actions_of(generation) - GRANTED_BUT_NOT_CALLED == POLICY_GENERATION_CALLS
    assert actions_of(readme_collector_policy()) == assumed == {"sts:AssumeRole"}


def test_the_readme_trust_policy_is_the_one_deploy_creates():
    (readme,) = readme_trust_policy()["Statement"]
    (deployed,) = template()["Resources"]["CollectorRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    assert readme["Action"] == deployed["Action"] == "sts:AssumeRole"
    assert set(readme["Principal"]) == set(deployed["Principal"]) == {"AWS"}
    assert set(readme["Condition"]["StringEquals"]) == {"sts:ExternalId"}
    assert set(deployed["Condition"]["StringEquals"]) == {"sts:ExternalId"}


def test_the_collector_may_assume_the_role_deploy_creates_in_any_account():
    (statement,) = readme_collector_policy()["Statement"]
    role_name = template()["Parameters"]["RoleName"]["Default"]
    assert statement["Resource"] == f"arn:aws:iam::*:role/{role_name}"
    terraform = {
        name.strip('"'): value
        for block in hcl2.load((MODULE / "variables.tf").open())["variable"]
        for name, value in block.items()
    }
    assert terraform["role_name"]["default"].strip('"') == role_name


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
