"""Management commands: what an operator types, and what scripts read from stdout."""

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from django.core.management import CommandError, call_command
from moto import mock_aws
from moto.iam.models import iam_backends

from findings.collection.registry import add_account
from findings.models import AwsAccount, CollectionRun, CredentialReportEntry, IamRole, IamUser
from tests.findings.collection.test_imports import with_read_only

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parents[1] / "data"
HUB = "123456789012"
ACCOUNT = "111122223333"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
    ],
}


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- aws_accounts -------------------------------------------------------------------------------


def test_accounts_are_added_and_listed_as_a_json_array():
    assert json.loads(run("aws_accounts", "list", "--json")[0]) == []
    out, _ = run(
        "aws_accounts",
        "add",
        ACCOUNT,
        "--name",
        "Production",
        "--role-arn",
        f"arn:aws:iam::{ACCOUNT}:role/IAMReviewReadOnly",
        "--external-id",
        "s3cret-ext",
        "--regions",
        "us-east-1,eu-west-1",
    )
    assert "Added Production (111122223333)" in out

    listed = json.loads(run("aws_accounts", "list", "--json")[0])

    assert listed == [
        {
            "account_id": ACCOUNT,
            "name": "Production",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/IAMReviewReadOnly",
            "external_id_set": True,
            "regions": ["us-east-1", "eu-west-1"],
            "enabled": True,
            "origin": "manual",
            "org_state": None,
        }
    ]
    assert "s3cret-ext" not in run("aws_accounts", "list", "--json")[0]
    assert ACCOUNT in run("aws_accounts", "list")[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["12345", "--name", "x"], "12 digits"),
        ([ACCOUNT, "--name", "x", "--role-arn", "arn:aws:iam::1:user/a"], "role ARN"),
        ([ACCOUNT, "--name", "x", "--regions", "mars-1"], "not an AWS region"),
    ],
)
def test_adding_an_invalid_account_is_a_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        run("aws_accounts", "add", *args)
    assert not AwsAccount.objects.exists()


def test_adding_an_account_twice_is_a_command_error():
    run("aws_accounts", "add", ACCOUNT, "--name", "Production")
    with pytest.raises(CommandError, match="already registered"):
        run("aws_accounts", "add", ACCOUNT, "--name", "Again")


def test_discover_registers_the_organizations_accounts():
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        member = org.create_account(Email="a@example.com", AccountName="payments")[
            "CreateAccountStatus"
        ]["AccountId"]
        out, _ = run(
            "aws_accounts",
            "discover",
            "--role-arn",
            f"arn:aws:iam::{HUB}:role/OrganizationReader",
            "--regions",
            "eu-west-1",
        )

    assert "2 accounts in the organization" in out
    assert f"added       {member}  payments" in out
    listed = {a["account_id"]: a for a in json.loads(run("aws_accounts", "list", "--json")[0])}
    assert listed[member]["role_arn"] == f"arn:aws:iam::{member}:role/IAMReviewReadOnly"
    assert listed[member]["origin"] == "organizations"
    assert listed[member]["regions"] == ["eu-west-1"]


def test_discover_says_when_the_scps_could_not_be_read():
    """The accounts are discovered all the same; the reason goes to stderr."""
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        org.create_policy(
            Content="[1]", Description="", Name="Broken", Type="SERVICE_CONTROL_POLICY"
        )
        out, err = run(
            "aws_accounts", "discover", "--role-arn", f"arn:aws:iam::{HUB}:role/OrganizationReader"
        )

    assert "1 accounts in the organization" in out
    assert "The organization's SCPs could not be read" in err
    assert "not a policy document" in err


def test_discover_with_a_malformed_role_arn_is_a_command_error():
    with pytest.raises(CommandError, match="not an ARN"):
        run("aws_accounts", "discover", "--role-arn", "OrganizationReader")


# --- collect ------------------------------------------------------------------------------------


@pytest.fixture
def hub_account():
    with mock_aws():
        iam = boto3.client("iam")
        iam.create_user(UserName="alice")
        iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.generate_credential_report()
        yield add_account(account_id=HUB, name="Hub")


def test_collect_json_prints_only_json_on_stdout_and_progress_on_stderr(hub_account, capsys):
    out, _ = run(
        "collect",
        "--json",
        "--account",
        HUB,
        "--source",
        "credential-report",
        "--source",
        "authorization-details",
    )

    err = capsys.readouterr().err  # progress goes to the process's stderr
    results = json.loads(out)
    assert [(r["account"], r["source"], r["status"]) for r in results] == [
        (HUB, "credential-report", "succeeded"),
        (HUB, "authorization-details", "succeeded"),
    ]
    assert results[0]["counts"]["rows"] == 1
    assert results[1]["error"] is None
    assert f"{HUB} credential-report: [0/2]" in err
    assert f"{HUB} authorization-details: succeeded" in err
    assert IamRole.objects.filter(name="app").exists()


def test_collect_without_json_shows_progress_on_stdout(hub_account):
    out, _ = run("collect", "--source", "credential-report")
    assert f"{HUB} credential-report: succeeded" in out


def test_collect_exits_with_an_error_when_a_run_failed_after_printing_the_json(hub_account):
    broken = add_account(account_id=ACCOUNT, name="Broken")
    AwsAccount.objects.filter(pk=broken.pk).update(role_arn="arn:aws:iam::1:role/x")
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 of 2 runs failed"):
        call_command("collect", "--json", "--source", "credential-report", stdout=out, stderr=err)

    results = {r["account"]: r for r in json.loads(out.getvalue())}
    assert results[HUB]["status"] == "succeeded"
    assert results[ACCOUNT]["status"] == "failed"
    assert results[ACCOUNT]["error"].startswith("Configuration error")


def test_collect_an_unknown_account_is_a_command_error(hub_account):
    with pytest.raises(CommandError, match="Unknown account"):
        run("collect", "--account", "999999999999")
    assert not CollectionRun.objects.exists()


# --- import_file --------------------------------------------------------------------------------


def test_import_file_stores_the_credential_report():
    add_account(account_id=ACCOUNT, name="Production")

    out, _ = run(
        "import_file",
        str(DATA / "credential-report.csv"),
        "--account",
        ACCOUNT,
        "--kind",
        "credential-report",
    )

    assert "Imported credential-report.csv into Production (111122223333)" in out
    assert "rows=6" in out
    assert CredentialReportEntry.objects.count() == 6


def test_import_file_complete_marks_a_type_with_no_entries_gone(tmp_path):
    add_account(account_id=ACCOUNT, name="Production")
    user = {
        "UserName": "alice",
        "UserId": "AIDAALICE",
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "Path": "/",
        "CreateDate": "2021-01-01T00:00:00Z",
    }
    files = {}
    for name, users in (("full.json", [user]), ("none.json", [])):
        files[name] = tmp_path / name
        files[name].write_text(json.dumps({"UserDetailList": users, "RoleDetailList": []}))
    common = ["--account", ACCOUNT, "--kind", "authorization-details"]
    run("import_file", str(files["full.json"]), *common)

    out, _ = run("import_file", str(files["none.json"]), *common)
    assert "Kept as stored, none in the file: users (--complete records" in out
    assert IamUser.objects.filter(gone_at=None).count() == 1
    run("import_file", str(files["none.json"]), *common, "--complete")
    assert not IamUser.objects.filter(gone_at=None).exists()


def test_import_file_says_which_aws_managed_policies_were_older_than_the_stored(tmp_path):
    add_account(account_id=ACCOUNT, name="Production")
    common = ["--account", ACCOUNT, "--kind", "authorization-details"]
    for name, version, updated in (("today", "v130", "2026-10-01"), ("old", "v90", "2024-01-01")):
        details = with_read_only(ACCOUNT, version, f"{updated}T00:00:00Z", ["s3:Get*"])
        (tmp_path / f"{name}.json").write_text(json.dumps(details))
    run("import_file", str(tmp_path / "today.json"), *common)

    out, _ = run("import_file", str(tmp_path / "old.json"), *common)

    assert (
        "AWS-managed policies not stored, older in the file than the versions stored for every "
        "account: arn:aws:iam::aws:policy/ReadOnlyAccess\n"
    ) in out


def test_import_file_with_a_malformed_file_names_the_line_and_stores_nothing(tmp_path):
    add_account(account_id=ACCOUNT, name="Production")
    lines = (DATA / "credential-report.csv").read_bytes().splitlines(True)
    lines[5] = lines[5].replace(b",false,", b",maybe,", 1)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"".join(lines))

    with pytest.raises(CommandError, match=r"line 6, mfa_active: .*'maybe'"):
        run("import_file", str(broken), "--account", ACCOUNT, "--kind", "credential-report")

    assert not CredentialReportEntry.objects.exists()
    assert CollectionRun.objects.get().status == "failed"


def test_import_file_for_an_unknown_account_or_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Unknown account"):
        run(
            "import_file",
            str(DATA / "credential-report.csv"),
            "--account",
            ACCOUNT,
            "--kind",
            "credential-report",
        )
    add_account(account_id=ACCOUNT, name="Production")
    with pytest.raises(CommandError, match="No such file"):
        run(
            "import_file",
            str(tmp_path / "nope.csv"),
            "--account",
            ACCOUNT,
            "--kind",
            "credential-report",
        )


# --- inventory ----------------------------------------------------------------------------------


@pytest.fixture
def imported():
    account = add_account(account_id=ACCOUNT, name="Production")
    run(
        "import_file",
        str(DATA / "credential-report.csv"),
        "--account",
        ACCOUNT,
        "--kind",
        "credential-report",
    )
    return account


def test_inventory_of_users_as_json_has_arns_last_use_and_reasons(imported):
    users = {row["name"]: row for row in json.loads(run("inventory", "--kind", "users")[0])}

    assert users["<root_account>"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert users["alice"]["password_last_used"] == "2026-10-31T08:44:02+00:00"
    # Never used and no password at all stay distinguishable.
    assert users["bob"]["password_last_used"] is None
    assert users["bob"]["password_last_used_reason"] == "no_information"
    assert users["ci-deployer"]["password_last_used"] is None
    assert users["ci-deployer"]["password_last_used_reason"] == "N/A"


def test_inventory_of_users_as_csv_has_a_column_per_fact(imported):
    out, _ = run("inventory", "--kind", "users", "--format", "csv", "--account", ACCOUNT)

    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(out))}
    assert len(rows) == 6
    assert rows["alice"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert rows["alice"]["access_key_1_last_used_date"] == "2026-10-31T07:10:00+00:00"
    assert rows["bob"]["password_last_used_reason"] == "no_information"
    assert rows["ci-deployer"]["password_last_used_reason"] == "N/A"
    assert rows["bob"]["password_last_used"] == ""


def test_inventory_of_roles_has_last_used_or_the_tracking_note():
    with mock_aws():
        iam = boto3.client("iam")
        iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.create_role(RoleName="idle", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam_backends[HUB]["aws"].get_role("app").last_used = datetime(2026, 11, 2, 10, tzinfo=UTC)
        add_account(account_id=HUB, name="Hub")
        run("collect", "--source", "authorization-details")

    roles = {row["name"]: row for row in json.loads(run("inventory", "--kind", "roles")[0])}
    assert roles["app"]["arn"] == f"arn:aws:iam::{HUB}:role/app"
    assert roles["app"]["last_used"] == "2026-11-02T10:00:00+00:00"
    assert roles["app"]["last_used_note"] is None
    assert roles["idle"]["last_used"] is None
    assert "400 days" in roles["idle"]["last_used_note"]

    out, _ = run("inventory", "--kind", "roles", "--format", "csv")
    by_name = {row["name"]: row for row in csv.DictReader(io.StringIO(out))}
    assert by_name["idle"]["arn"] == f"arn:aws:iam::{HUB}:role/idle"
    assert by_name["idle"]["last_used"] == ""
    assert by_name["app"]["policies"] == "[]"
