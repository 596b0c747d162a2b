"""The exports of a suggestion: every change applied the way IAM allows it, under identifiers
that never clash, in files Terraform and CloudFormation accept."""

import json
import re
from datetime import UTC, datetime, timedelta

import hcl2
import pytest
from cfnlint.api import lint
from hcl2.utils import SerializationOptions

from findings.policy.grants import GrantedPolicy
from findings.rightsizing import exports
from findings.rightsizing.engine import Principal, ServiceUsage, suggest

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
ACCOUNT = "111122223333"
ROLE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:role/app", name="app", kind="role", created=OLD)
ALICE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", name="alice", kind="user", created=OLD)
# s3 used yesterday, sqs not for 300 days: every policy below loses its sqs part.
USAGE = {
    "s3": ServiceUsage(service="s3", last_accessed=NOW - timedelta(days=1)),
    "sqs": ServiceUsage(service="sqs", last_accessed=NOW - timedelta(days=300)),
}
REDUCED = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def doc(*actions):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def inline(name, *, group=""):
    return GrantedPolicy(
        name=name,
        ref=name,
        kind="group" if group else "inline",
        document=doc("s3:GetObject", "sqs:SendMessage"),
        group=group,
        members=(ALICE.arn,) if group else (),
    )


def managed(name, *, aws=False, attachments=1, group="", path="/", only_sqs=False):
    owner = "aws" if aws else ACCOUNT
    return GrantedPolicy(
        name=name,
        ref=f"arn:aws:iam::{owner}:policy{path}{name}",
        kind="group" if group else "managed",
        document=doc("sqs:*") if only_sqs else doc("s3:GetObject", "sqs:*"),
        is_managed=True,
        is_aws_managed=aws,
        attachment_count=attachments,
        group=group,
        members=(ALICE.arn,) if group else (),
    )


def suggestion_for(*policies, principal=ROLE):
    return suggest(principal=principal, policies=policies, usage=USAGE, now=NOW, unused_days=90)


def terraform_resources(text):
    """(type, label) -> attributes, as Terraform would read them (strings unquoted)."""
    parsed = hcl2.loads(text, serialization_options=SerializationOptions(strip_string_quotes=True))
    return {
        (resource_type, label): attributes
        for block in parsed.get("resource", [])
        for resource_type, labelled in block.items()
        for label, attributes in labelled.items()
    }


def terraform_documents(text):
    """Label -> the policy document of each heredoc, with Terraform's `$${` escape undone."""
    return {
        label: json.loads(body.replace("$${", "${").replace("%%{", "%{"))
        for label, body in re.findall(
            r'^resource "[a-z_]+" "([A-Za-z0-9_-]+)" \{\n'
            r"(?:  [^\n]*\n)*?  policy *= <<-EOT\n(.*?)\n *EOT",
            text,
            flags=re.DOTALL | re.MULTILINE,
        )
    }


def template_of(suggestion, members=None):
    text = exports.cloudformation(suggestion=suggestion, members=members)
    assert [str(match) for match in lint(text)] == []
    return json.loads(text)


def test_an_inline_policy_is_put_again_under_its_own_name():
    suggestion = suggestion_for(inline("batch"))

    tf = exports.terraform(suggestion=suggestion)
    resources = terraform_resources(tf)
    assert resources[("aws_iam_role_policy", "batch")]["name"] == "batch"
    assert resources[("aws_iam_role_policy", "batch")]["role"] == "app"
    assert terraform_documents(tf) == {"batch": REDUCED}
    [resource] = template_of(suggestion)["Resources"].values()
    assert resource["Type"] == "AWS::IAM::RolePolicy"
    assert resource["Properties"] == {
        "RoleName": "app",
        "PolicyName": "batch",
        "PolicyDocument": REDUCED,
    }


def test_terraform_attaches_the_replacement_of_a_groups_managed_policy_to_the_group():
    suggestion = suggestion_for(managed("DataRead", aws=True, group="developers"), principal=ALICE)
    assert suggestion["changes"][0]["action"] == "replace"

    tf = exports.terraform(suggestion=suggestion)
    resources = terraform_resources(tf)
    [(_, label)] = [key for key in resources if key[0] == "aws_iam_policy"]
    assert resources[("aws_iam_policy", label)]["name"] == "DataRead-least-privilege"
    assert resources[("aws_iam_group_policy_attachment", label)] == {
        "group": "developers",
        "policy_arn": f"${{aws_iam_policy.{label}.arn}}",
        "__is_block__": True,
    }
    assert (
        "Once this is attached, detach the original:\n"
        "#   aws iam detach-group-policy --group-name developers "
        "--policy-arn arn:aws:iam::aws:policy/DataRead"
    ) in tf


def test_cloudformation_attaches_the_replacement_where_the_original_is():
    suggestion = suggestion_for(
        managed("DataRead", aws=True, group="developers"),
        managed("AmazonSQSFullAccess", aws=True),
        principal=ALICE,
    )

    template = template_of(suggestion)
    policies = [r["Properties"] for r in template["Resources"].values()]
    assert [p["ManagedPolicyName"] for p in policies] == [
        "DataRead-least-privilege",
        "AmazonSQSFullAccess-least-privilege",
    ]
    assert policies[0]["Groups"] == ["developers"] and "Users" not in policies[0]
    assert policies[1]["Users"] == ["alice"] and "Groups" not in policies[1]


@pytest.mark.parametrize(
    ("policy", "principal", "to_detach"),
    [
        (managed("AmazonSQSFullAccess", aws=True), ROLE, "from role app"),
        (managed("Shared", attachments=3), ROLE, "from role app"),
        (managed("DataRead", aws=True, group="developers"), ALICE, "from group developers"),
    ],
)
def test_cloudformation_says_to_detach_every_replaced_policy_once_its_replacement_is_attached(
    policy, principal, to_detach
):
    suggestion = suggestion_for(policy, principal=principal)
    assert suggestion["changes"][0]["action"] == "replace"

    template = template_of(suggestion)
    assert (
        f"Once the stack is created: detach {policy.ref} {to_detach} "
        f"(replaced by {policy.name}-least-privilege)."
    ) in template["Description"]
    [command] = template["Metadata"]["IamReview"]["AfterCreate"]
    assert command.startswith("aws iam detach-") and command.endswith(f"--policy-arn {policy.ref}")


def test_cloudformation_keeps_a_users_and_a_groups_inline_policies_of_the_same_name():
    suggestion = suggestion_for(
        inline("s3-access"), inline("s3-access", group="developers"), principal=ALICE
    )
    assert [c["action"] for c in suggestion["changes"]] == ["rewrite", "rewrite"]

    resources = template_of(suggestion)["Resources"]
    assert sorted(r["Type"] for r in resources.values()) == [
        "AWS::IAM::GroupPolicy",
        "AWS::IAM::UserPolicy",
    ]


def test_an_inline_and_a_managed_policy_of_the_same_name_are_both_exported():
    suggestion = suggestion_for(
        inline("Shared"), managed("Shared", aws=True), managed("shared", attachments=2)
    )
    assert [c["action"] for c in suggestion["changes"]] == ["rewrite", "replace", "replace"]

    resources = template_of(suggestion)["Resources"]
    assert len(resources) == 3
    tf = terraform_resources(exports.terraform(suggestion=suggestion))
    assert len([key for key in tf if key[0] == "aws_iam_policy"]) == 2
    assert len([key for key in tf if key[0] == "aws_iam_role_policy_attachment"]) == 2


def test_two_groups_inline_policies_of_the_same_name_get_distinct_terraform_labels():
    suggestion = suggestion_for(
        inline("s3-access", group="developers"),
        inline("s3-access", group="ops"),
        inline("S3_Access", group="ops"),
        principal=ALICE,
    )

    tf = exports.terraform(suggestion=suggestion)
    groups = {
        label: (attributes["group"], attributes["name"])
        for (kind, label), attributes in terraform_resources(tf).items()
        if kind == "aws_iam_group_policy"
    }
    assert sorted(groups.values()) == [
        ("developers", "s3-access"),
        ("ops", "S3_Access"),
        ("ops", "s3-access"),
    ]
    assert len(re.findall(r'^resource "aws_iam_group_policy"', tf, flags=re.MULTILINE)) == 3


def test_new_policy_names_never_clash_with_each_other_or_the_principals_policies():
    suggestion = suggestion_for(
        managed("ReadOnly", aws=True),
        managed("ReadOnly", aws=True, group="developers"),
        managed("ReadOnly-least-privilege", only_sqs=True),  # an earlier one, now unused
        principal=ALICE,
    )
    assert [c["action"] for c in suggestion["changes"]] == ["replace", "replace", "detach"]

    names = [
        r["Properties"]["ManagedPolicyName"] for r in template_of(suggestion)["Resources"].values()
    ]
    assert names == ["ReadOnly-least-privilege-2", "ReadOnly-least-privilege-3"]
    tf = terraform_resources(exports.terraform(suggestion=suggestion))
    assert sorted(a["name"] for (kind, _), a in tf.items() if kind == "aws_iam_policy") == names
    exported = json.loads(exports.policy_json(suggestion=suggestion))["policies"]
    assert [p["name"] for p in exported] == [*names, "ReadOnly-least-privilege"]


def test_a_long_new_policy_name_stays_within_iams_128_characters_when_disambiguated():
    long_name = "p" * 128
    suggestion = suggestion_for(
        managed(long_name, aws=True), managed(long_name, aws=True, group="g"), principal=ALICE
    )

    names = [
        r["Properties"]["ManagedPolicyName"] for r in template_of(suggestion)["Resources"].values()
    ]
    assert len(set(names)) == 2 and all(len(name) <= 128 for name in names)


def test_terraform_rewrites_an_unshared_customer_managed_policy_in_place_through_an_import():
    policy = managed("app-policy", path="/team/")
    suggestion = suggestion_for(policy)
    assert suggestion["changes"][0]["action"] == "rewrite"

    tf = exports.terraform(suggestion=suggestion)
    parsed = hcl2.loads(tf, serialization_options=SerializationOptions(strip_string_quotes=True))
    [import_block] = parsed["import"]
    [(kind, label)] = terraform_resources(tf)  # no attachment: the policy's own stay
    assert kind == "aws_iam_policy"
    assert import_block["to"] == f"${{aws_iam_policy.{label}}}"
    assert import_block["id"] == policy.ref
    resource = terraform_resources(tf)[(kind, label)]
    assert (resource["name"], resource["path"]) == ("app-policy", "/team/")
    [lifecycle] = resource["lifecycle"]
    assert lifecycle["prevent_destroy"] is True
    assert terraform_documents(tf) == {label: REDUCED}
    assert "Terraform >= 1.5" in tf


def test_cloudformation_rewrites_an_unshared_customer_managed_policy_as_a_new_policy():
    policy = managed("app-policy")
    suggestion = suggestion_for(policy)

    template = template_of(suggestion)
    [resource] = template["Resources"].values()
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"
    assert resource["Properties"] == {
        "ManagedPolicyName": "app-policy-least-privilege",
        "PolicyDocument": REDUCED,
        "Roles": ["app"],
    }
    assert f"detach {policy.ref} from role app" in template["Description"]
    assert template["Metadata"]["IamReview"]["AfterCreate"] == [
        f"aws iam detach-role-policy --role-name app --policy-arn {policy.ref}"
    ]


def test_the_json_export_names_the_existing_policy_a_rewrite_updates():
    policy = managed("app-policy")
    [exported] = json.loads(exports.policy_json(suggestion=suggestion_for(policy)))["policies"]
    assert exported["action"] == "rewrite"
    assert (exported["name"], exported["ref"]) == ("app-policy", policy.ref)


def test_policies_with_nothing_used_are_detached_or_deleted_in_every_format():
    suggestion = suggestion_for(
        GrantedPolicy(name="queues", ref="queues", kind="inline", document=doc("sqs:*")),
        managed("Queues", aws=True, group="developers", only_sqs=True),
        principal=ALICE,
    )
    assert [c["action"] for c in suggestion["changes"]] == ["detach", "detach"]
    commands = [
        "aws iam delete-user-policy --user-name alice --policy-name queues",
        "aws iam detach-group-policy --group-name developers "
        "--policy-arn arn:aws:iam::aws:policy/Queues",
    ]

    tf = exports.terraform(suggestion=suggestion)
    assert all(f"#   {command}" in tf for command in commands)
    assert "resource" not in tf
    template = template_of(suggestion)  # still a template: one resource that creates nothing
    assert [r["Type"] for r in template["Resources"].values()] == [
        "AWS::CloudFormation::WaitConditionHandle"
    ]
    assert template["Metadata"]["IamReview"]["AfterCreate"] == commands
    assert (
        "delete inline policy queues of user alice (nothing of it is used); "
        "detach arn:aws:iam::aws:policy/Queues from group developers (nothing of it is used)."
    ) in template["Description"]


def test_a_description_too_long_for_cloudformation_is_cut_and_points_to_the_metadata():
    policies = [managed(f"Policy{n:03d}-{'x' * 60}", aws=True) for n in range(20)]
    template = template_of(suggestion_for(*policies))

    assert len(template["Description"].encode()) <= 1024
    assert template["Description"].endswith("every step is in Metadata IamReview AfterCreate.)")
    assert len(template["Metadata"]["IamReview"]["AfterCreate"]) == 20
    assert len(template["Resources"]) == 20


def test_logical_ids_are_alphanumeric_and_at_most_255_characters():
    names = ["a" * 128, "A" * 128, "é-policy", "___"]
    suggestion = suggestion_for(
        *[inline(name) for name in names],
        *[inline(name, group="g" * 128) for name in names],
        managed("z" * 128, aws=True, group="g" * 128),
        principal=ALICE,
    )

    logical_ids = list(template_of(suggestion)["Resources"])
    assert len(logical_ids) == len(suggestion["changes"]) == 9
    assert all(re.fullmatch(r"[A-Za-z0-9]{1,255}", logical) for logical in logical_ids)


def test_iam_policy_variables_and_odd_names_are_escaped_in_terraform():
    policy = GrantedPolicy(
        name='home"${x}\\',
        ref='home"${x}\\',
        kind="inline",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "sqs:SendMessage"],
                    "Resource": "arn:aws:s3:::home/${aws:username}/%{x}",
                }
            ],
        },
    )
    tf = exports.terraform(suggestion=suggestion_for(policy))

    assert terraform_resources(tf)  # Terraform's grammar reads it
    assert 'name   = "home\\"$${x}\\\\"' in tf
    assert '"Resource": "arn:aws:s3:::home/$${aws:username}/%%{x}"' in tf
    [document] = terraform_documents(tf).values()
    assert document["Statement"][0]["Resource"] == "arn:aws:s3:::home/${aws:username}/%{x}"


def test_exports_are_the_same_every_time():
    def build():
        suggestion = suggestion_for(
            inline("s3-access"),
            inline("s3-access", group="ops"),
            managed("ReadOnly", aws=True),
            managed("app-policy"),
            principal=ALICE,
        )
        return [
            exports.terraform(suggestion=suggestion),
            exports.cloudformation(suggestion=suggestion),
            exports.policy_json(suggestion=suggestion),
        ]

    assert build() == build()


def test_a_change_to_a_groups_policy_says_which_other_members_it_changes_too():
    suggestion = suggestion_for(inline("s3-access", group="developers"), principal=ALICE)
    bob = f"arn:aws:iam::{ACCOUNT}:user/bob"
    suggestion["changes"][0]["affects_count"] = 2  # bob's use kept all the group grants
    suggestion["changes"][0]["affects_first"] = [ALICE.arn, bob]

    tf = exports.terraform(suggestion=suggestion)
    assert "# Group developers: this also changes its 1 other member(s)." in tf
    also = template_of(suggestion)["Metadata"]["IamReview"]["AlsoChanges"]
    assert also == {"group developers": [bob]}


def test_the_template_names_every_other_member_of_a_large_group():
    """A suggestion names the first few members a group's change reaches; the template, which
    someone applies, names every one, as read when it is made."""
    members = [ALICE.arn, *(f"arn:aws:iam::{ACCOUNT}:user/user-{n:03d}" for n in range(40))]
    suggestion = suggestion_for(inline("s3-access", group="developers"), principal=ALICE)
    change = suggestion["changes"][0]
    change["affects_count"], change["affects_first"] = len(members), members[:10]

    tf = exports.terraform(suggestion=suggestion)
    assert "# Group developers: this also changes its 40 other member(s)." in tf
    template = template_of(suggestion, members={"developers": members})
    assert template["Metadata"]["IamReview"]["AlsoChanges"] == {"group developers": members[1:]}
    with pytest.raises(ValueError, match="members of group developers are needed"):
        exports.cloudformation(suggestion=suggestion)


def planted(**condition):
    """A policy whose author (anyone who may put a policy on a role they use) wrote text of
    their choosing in a Condition, which the suggestion keeps as written."""
    return GrantedPolicy(
        name="batch",
        ref="batch",
        kind="inline",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "sqs:SendMessage"],
                    "Resource": "*",
                    "Condition": condition,
                }
            ],
        },
    )


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def one_key_objects(value):
    if isinstance(value, dict):
        if len(value) == 1:
            yield next(iter(value))
        for item in value.values():
            yield from one_key_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from one_key_objects(item)


REFERENCE = "{{resolve:secretsmanager:prod/db:SecretString:password}}"


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"aws:PrincipalTag/note": REFERENCE}},
        {"StringEquals": {"aws:PrincipalTag/note": ["x", f"a{REFERENCE}b"]}},
        {"StringEquals": {"{{resolve:ssm:/prod/token}}": "x"}},
        {"StringEquals": {"Fn::ImportValue": "prod-db-password"}},
        {"StringEquals": {"Ref": "AWS::StackName"}},
    ],
)
def test_text_cloudformation_would_resolve_is_inert_and_reaches_iam_as_written(condition):
    suggestion = suggestion_for(planted(**condition))
    [resource] = template_of(suggestion)["Resources"].values()
    document = resource["Properties"]["PolicyDocument"]

    # A string property with no "{{" is neither resolved nor read as a function.
    assert isinstance(document, str) and "{{" not in document
    assert "{{" not in "".join(strings_in(template_of(suggestion)["Resources"]))
    # IAM reads the JSON escape back: the policy deployed is the one suggested.
    [change] = exports.changed(suggestion=suggestion)
    assert json.loads(document) == change["after"]
    assert json.loads(document)["Statement"][0]["Condition"] == condition


def test_a_policy_cloudformation_would_not_act_on_stays_an_object():
    suggestion = suggestion_for(inline("s3-access"))
    [resource] = template_of(suggestion)["Resources"].values()
    document = resource["Properties"]["PolicyDocument"]
    assert document == exports.changed(suggestion=suggestion)[0]["after"]
    assert not [key for key in one_key_objects(document) if key == "Ref" or "::" in key]
