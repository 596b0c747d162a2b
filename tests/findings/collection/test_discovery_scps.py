"""Discovery reads the organization's SCPs onto each account; a failed read keeps the last."""

import json

import boto3
import pytest
from django.urls import reverse
from moto import mock_aws

from findings.collection.imports import import_file
from findings.collection.registry import discover_organization_accounts
from findings.models import AuditEntry, AwsAccount, ScpState
from findings.models.findings import Finding

pytestmark = pytest.mark.django_db

MANAGEMENT = "123456789012"  # moto's default account, which creates the organization
READER = f"arn:aws:iam::{MANAGEMENT}:role/OrganizationReader"
PROTECT_IAM = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "iam:CreatePolicyVersion", "Resource": "*"}],
}


@pytest.fixture
def organization():
    """SCPs enabled; one member in the Workloads OU under a Deny, one at the root."""
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        unit = org.create_organizational_unit(ParentId=root, Name="Workloads")
        unit_id = unit["OrganizationalUnit"]["Id"]
        shop, sandbox = (
            org.create_account(Email=f"{name}@example.com", AccountName=name)[
                "CreateAccountStatus"
            ]["AccountId"]
            for name in ("shop", "sandbox")
        )
        org.move_account(AccountId=shop, SourceParentId=root, DestinationParentId=unit_id)
        policy = org.create_policy(
            Content=json.dumps(PROTECT_IAM),
            Description="",
            Name="ProtectIAM",
            Type="SERVICE_CONTROL_POLICY",
        )["Policy"]["PolicySummary"]
        org.attach_policy(PolicyId=policy["Id"], TargetId=unit_id)
        yield {"org": org, "shop": shop, "sandbox": sandbox, "unit": unit_id, "root": root}


def discover():
    return discover_organization_accounts(role_arn=READER, member_role_name="IAMReviewReadOnly")


def policy_names(account: AwsAccount) -> list[list[str]]:
    return [[p["name"] for p in level["policies"]] for level in account.scp_levels]


def test_each_account_gets_its_scps_by_level_and_the_management_account_none(organization):
    result = discover()

    assert result.scp_error == ""
    shop = AwsAccount.objects.get(account_id=organization["shop"])
    assert shop.scp_state == ScpState.APPLIED
    assert [(level["kind"], level["id"]) for level in shop.scp_levels] == [
        ("root", organization["root"]),
        ("ou", organization["unit"]),
        ("account", organization["shop"]),
    ]
    assert policy_names(shop) == [
        ["FullAWSAccess"],
        ["FullAWSAccess", "ProtectIAM"],
        ["FullAWSAccess"],
    ]
    assert shop.scp_levels[1]["policies"][1]["document"] == PROTECT_IAM
    assert shop.scp_read_at is not None
    sandbox = AwsAccount.objects.get(account_id=organization["sandbox"])
    assert policy_names(sandbox) == [["FullAWSAccess"], ["FullAWSAccess"]]
    management = AwsAccount.objects.get(account_id=MANAGEMENT)
    assert (management.scp_state, management.scp_levels) == (ScpState.EXEMPT, [])
    assert management.scp_levels_in_effect is None
    # The first read changes nothing that was known: no audit entry for it.
    assert not AuditEntry.objects.filter(action="aws_account.scps_changed").exists()


def test_an_unchanged_organization_writes_nothing(organization):
    discover()
    before = list(AwsAccount.objects.values())
    entries = AuditEntry.objects.count()

    result = discover()

    assert result.scp_changed == []
    assert AuditEntry.objects.count() == entries
    assert list(AwsAccount.objects.values()) == before


def test_a_policy_detached_later_is_gone_from_the_account_at_the_next_discovery(organization):
    discover()
    org = organization["org"]
    (policy,) = [
        p
        for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
        if p["Name"] == "ProtectIAM"
    ]
    org.detach_policy(PolicyId=policy["Id"], TargetId=organization["unit"])

    result = discover()

    shop = AwsAccount.objects.get(account_id=organization["shop"])
    assert policy_names(shop)[1] == ["FullAWSAccess"]
    assert [a.account_id for a in result.scp_changed] == [organization["shop"]]
    (entry,) = AuditEntry.objects.filter(action="aws_account.scps_changed")
    assert entry.target_id == str(shop.pk)
    assert entry.before["scps"][1] == f"ou {organization['unit']}: FullAWSAccess, ProtectIAM"
    assert entry.after["scps"][1] == f"ou {organization['unit']}: FullAWSAccess"


def test_without_scps_enabled_the_accounts_say_so(organization):
    org = organization["org"]
    org.disable_policy_type(RootId=organization["root"], PolicyType="SERVICE_CONTROL_POLICY")

    discover()

    shop = AwsAccount.objects.get(account_id=organization["shop"])
    assert (shop.scp_state, shop.scp_levels) == (ScpState.NOT_ENABLED, [])
    assert shop.scp_levels_in_effect is None


def test_a_failed_read_still_discovers_the_accounts_and_keeps_the_last_scps(organization):
    """Whatever stops the SCPs from being read (a role granted only ListAccounts before they
    were read; here, a policy whose content is no policy document), the accounts are still
    discovered, and each keeps the SCPs last read, with the reason on its page."""
    discover()
    kept = AwsAccount.objects.get(account_id=organization["shop"]).scp_levels
    organization["org"].create_policy(
        Content="[1, 2]", Description="", Name="Broken", Type="SERVICE_CONTROL_POLICY"
    )
    organization["org"].create_account(Email="late@example.com", AccountName="late")

    result = discover()

    assert result.seen == 4
    assert [a.name for a in result.added] == ["late"]
    assert "the SCP's content is not a policy document" in result.scp_error
    shop = AwsAccount.objects.get(account_id=organization["shop"])
    assert (shop.scp_state, shop.scp_levels) == (ScpState.APPLIED, kept)
    assert shop.scp_error == result.scp_error
    assert result.scp_changed == []
    late = AwsAccount.objects.get(name="late")
    assert (late.scp_state, late.scp_error) == (ScpState.UNKNOWN, result.scp_error)


def escalation(account: AwsAccount) -> dict:
    return Finding.objects.get(
        account=account, check_id="privilege-escalation", status="open"
    ).evidence


def test_changed_scps_run_detection_and_escalation_leaves_out_what_they_block(
    organization, django_capture_on_commit_callbacks
):
    """Detection reads the SCPs: a Deny of CreatePolicyVersion attached to the OU later
    removes that way to escalate from the finding, and the finding says so."""
    org, unit = organization["org"], organization["unit"]
    (policy,) = [
        p["Id"]
        for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
        if p["Name"] == "ProtectIAM"
    ]
    org.detach_policy(PolicyId=policy, TargetId=unit)
    discover()
    account = AwsAccount.objects.get(account_id=organization["shop"])
    import_escalating_evidence(account)
    assert "CreateNewPolicyVersion" in [m["method"] for m in escalation(account)["methods"]]
    assert escalation(account)["blocked_by_scps"] == []

    org.attach_policy(PolicyId=policy, TargetId=unit)
    with django_capture_on_commit_callbacks(execute=True):
        result = discover()

    assert organization["shop"] in [a.account_id for a in result.scp_changed]
    evidence = escalation(account)
    assert "CreateNewPolicyVersion" not in [m["method"] for m in evidence["methods"]]
    assert "CreateAccessKey" in [m["method"] for m in evidence["methods"]]
    assert evidence["blocked_by_scps"] == [
        {
            "method": "CreateNewPolicyVersion",
            "why": f"denied by SCP ProtectIAM (OU Workloads ({unit}))",
        }
    ]
    assert evidence["scps"] == ["FullAWSAccess", "ProtectIAM"]


def import_escalating_evidence(account: AwsAccount) -> None:
    """dev may write a new version of a policy admin uses, and create admin's access keys."""
    arn = f"arn:aws:iam::{account.account_id}"
    shared = {"PolicyName": "shared", "PolicyArn": f"{arn}:policy/shared"}

    def user(name: str, statement: dict, **extra) -> dict:
        return {
            "Path": "/",
            "UserName": name,
            "UserId": f"AIDA{name.upper()}",
            "Arn": f"{arn}:user/{name}",
            "CreateDate": "2021-05-03T10:00:00+00:00",
            "GroupList": [],
            "AttachedManagedPolicies": [],
            "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": {"Statement": [statement]}}],
            **extra,
        }

    document = {
        "UserDetailList": [
            user(
                "dev",
                {
                    "Effect": "Allow",
                    "Action": ["iam:CreatePolicyVersion", "iam:CreateAccessKey"],
                    "Resource": "*",
                },
            ),
            user(
                "admin",
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                AttachedManagedPolicies=[shared],
            ),
        ],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [
            {
                "PolicyName": "shared",
                "PolicyId": "ANPASHARED",
                "Arn": shared["PolicyArn"],
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": 1,
                "PolicyVersionList": [
                    {
                        "Document": {
                            "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]
                        },
                        "VersionId": "v1",
                        "IsDefaultVersion": True,
                    }
                ],
            }
        ],
    }
    import_file(account=account, kind="authorization-details", data=json.dumps(document).encode())


def test_the_account_page_shows_each_level_its_scps_and_their_documents(
    organization, client, reviewer
):
    discover()
    shop = AwsAccount.objects.get(account_id=organization["shop"])
    client.force_login(reviewer)

    page = client.get(reverse("aws_account", args=[shop.pk])).content.decode()

    assert "Service control policies" in page
    assert "escalation findings leave out the ways they block" in page
    assert f"OU Workloads</strong> <code>{organization['unit']}</code>" in page
    assert "ProtectIAM" in page
    assert "iam:CreatePolicyVersion" in page  # the document, to read what it denies


def test_the_account_page_says_when_scps_are_unknown_or_could_not_be_read(client, reviewer):
    account = AwsAccount.objects.create(account_id="111122223333", name="by hand")
    client.force_login(reviewer)
    page = client.get(reverse("aws_account", args=[account.pk])).content.decode()
    assert "Not known: discovery of the organization reads them" in page

    AwsAccount.objects.filter(pk=account.pk).update(
        scp_state=ScpState.APPLIED,
        scp_levels=[{"id": "r-1", "kind": "root", "name": "<b>Root</b>", "policies": []}],
        scp_error="The organization's SCPs could not be read: <script>x</script>",
    )
    page = client.get(reverse("aws_account", args=[account.pk])).content.decode()
    assert "could not be read: &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    assert "it is taken to block nothing" in page


def test_an_account_that_leaves_the_organization_no_longer_has_its_scps(
    organization, django_capture_on_commit_callbacks
):
    discover()
    organization["org"].remove_account_from_organization(AccountId=organization["sandbox"])

    with django_capture_on_commit_callbacks(execute=True):
        result = discover()

    sandbox = AwsAccount.objects.get(account_id=organization["sandbox"])
    assert (sandbox.scp_state, sandbox.scp_levels) == (ScpState.UNKNOWN, [])
    assert sandbox.scp_levels_in_effect is None
    assert organization["sandbox"] in [a.account_id for a in result.scp_changed]
