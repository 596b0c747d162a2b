"""Storage writes only what changed, marks what went, and brings back what returns."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from django.db import connection
from moto import mock_aws

from findings.collection.collectors import run_collection
from findings.collection.imports import import_file
from findings.collection.registry import add_account
from findings.collection.runs import claim_run
from findings.collection.storage import intern_documents, sync_observed
from findings.models import (
    CollectionRun,
    IamRole,
    IamUser,
    ManagedPolicy,
    PolicyDocument,
    Source,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parents[1] / "data"
HUB = "123456789012"
EVIDENCE_TABLES = [
    "findings_credentialreport",
    "findings_credentialreportentry",
    "findings_iamuser",
    "findings_iamgroup",
    "findings_iamrole",
    "findings_managedpolicy",
    "findings_policydocument",
    "findings_policyattachment",
    "findings_accessanalyzerfinding",
]
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
    ],
}


def row_versions(table: str) -> dict[int, str]:
    """Each row's xmin: the transaction that last wrote it. Any UPDATE changes it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, xmin::text FROM {table}")  # noqa: S608 - fixed names
        return dict(cursor.fetchall())


def snapshot() -> dict[str, dict[int, str]]:
    return {table: row_versions(table) for table in EVIDENCE_TABLES}


def collect(account, source: str) -> CollectionRun:
    run = claim_run(account=account, source=source, trigger=CollectionRun.Trigger.MANUAL)
    return run_collection(run=run)


def policy(action: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
    )


@pytest.fixture
def aws_estate():
    """Users, a group, roles and policies in moto's default account, read with own credentials
    (assuming a role would update that role's last-used date and make every run differ)."""
    with mock_aws():
        iam = boto3.client("iam")
        managed = iam.create_policy(PolicyName="deploy", PolicyDocument=policy("cloudformation:*"))
        iam.create_group(GroupName="developers")
        for name in ("alice", "bob", "carol"):
            iam.create_user(UserName=name)
            iam.add_user_to_group(GroupName="developers", UserName=name)
            iam.create_access_key(UserName=name)
        iam.put_user_policy(UserName="alice", PolicyName="own", PolicyDocument=policy("s3:*"))
        for name in ("app", "batch"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
            iam.attach_role_policy(RoleName=name, PolicyArn=managed["Policy"]["Arn"])
        iam.generate_credential_report()
        yield iam


def test_recollecting_unchanged_data_changes_no_rows(postgres, aws_estate):
    account = add_account(account_id=HUB, name="Hub")
    for source in (Source.CREDENTIAL_REPORT, Source.AUTHORIZATION_DETAILS):
        assert collect(account, source).status == "succeeded"
    before = snapshot()
    runs_before = CollectionRun.objects.count()

    for source in (Source.CREDENTIAL_REPORT, Source.AUTHORIZATION_DETAILS):
        run = collect(account, source)
        assert run.status == "succeeded"
        assert not any(
            v for k, v in run.counts.items() if k.endswith(("created", "updated", "gone"))
        )

    assert snapshot() == before
    assert all(before[t] for t in EVIDENCE_TABLES if "accessanalyzer" not in t)
    assert CollectionRun.objects.count() == runs_before + 2

    # The check is sharp: one changed user rewrites exactly that user's row.
    aws_estate.tag_user(UserName="bob", Tags=[{"Key": "team", "Value": "ops"}])
    collect(account, Source.AUTHORIZATION_DETAILS)
    after = row_versions("findings_iamuser")
    bob = IamUser.objects.get(name="bob").pk
    assert {pk for pk, xmin in after.items() if before["findings_iamuser"][pk] != xmin} == {bob}


def test_reimporting_the_same_files_changes_no_rows(postgres):
    account = add_account(account_id="111122223333", name="Production")
    files = {
        "credential-report": (DATA / "credential-report.csv").read_bytes(),
        "access-analyzer-findings": (DATA / "access-analyzer-get-finding-v2.json").read_bytes(),
    }
    for kind, data in files.items():
        import_file(account=account, kind=kind, data=data)
    before = snapshot()

    for kind, data in files.items():
        run = import_file(account=account, kind=kind, data=data)
        assert run.counts["created"] == run.counts["updated"] == run.counts["gone"] == 0

    assert snapshot() == before
    assert before["findings_credentialreportentry"] and before["findings_accessanalyzerfinding"]


def test_a_user_that_disappears_gets_gone_at_and_comes_back_when_it_reappears(aws_estate):
    account = add_account(account_id=HUB, name="Hub")
    first = collect(account, Source.AUTHORIZATION_DETAILS)
    carol = IamUser.objects.get(account=account, name="carol")
    aws_estate.remove_user_from_group(GroupName="developers", UserName="carol")
    aws_estate.delete_access_key(
        UserName="carol",
        AccessKeyId=aws_estate.list_access_keys(UserName="carol")["AccessKeyMetadata"][0][
            "AccessKeyId"
        ],
    )
    aws_estate.delete_user(UserName="carol")

    second = collect(account, Source.AUTHORIZATION_DETAILS)

    carol.refresh_from_db()
    assert second.counts["users_gone"] == 1
    assert carol.gone_at is not None
    assert carol.gone_at >= second.started_at
    assert carol.last_seen_at == first.finished_at
    assert not carol.is_present
    assert IamUser.objects.filter(account=account, gone_at=None).count() == 2

    aws_estate.create_user(UserName="carol")
    third = collect(account, Source.AUTHORIZATION_DETAILS)

    came_back = IamUser.objects.get(account=account, name="carol")
    assert came_back.pk == carol.pk
    assert came_back.gone_at is None and came_back.last_seen_at is None
    assert came_back.first_seen_at == carol.first_seen_at
    assert came_back.changed_at >= third.started_at
    assert came_back.groups == []
    assert third.counts["users_updated"] == 1


# --- sync_observed and intern_documents directly ------------------------------------------------


def role_values(name: str, **changes) -> dict:
    values = {
        "arn": f"arn:aws:iam::111122223333:role/{name}",
        "name": name,
        "role_id": f"AROA{name.upper()}",
        "path": "/",
        "create_date": datetime(2024, 1, 1, tzinfo=UTC),
        "trust_policy": TRUST,
        "tags": {},
        "last_used_at": None,
    }
    return {**values, **changes}


def test_sync_counts_created_updated_unchanged_and_gone():
    account = add_account(account_id="111122223333", name="Production")
    day1 = datetime(2026, 11, 1, tzinfo=UTC)
    sync_observed(
        model=IamRole,
        account=account,
        records=[role_values("a"), role_values("b"), role_values("c")],
        now=day1,
        previous_seen_at=None,
    )

    counts = sync_observed(
        model=IamRole,
        account=account,
        records=[role_values("a"), role_values("b", tags={"k": "v"}), role_values("d")],
        now=day1 + timedelta(days=1),
        previous_seen_at=day1,
    )

    assert counts.as_dict() == {"created": 1, "updated": 1, "unchanged": 1, "gone": 1}
    roles = {r.name: r for r in IamRole.objects.filter(account=account)}
    assert roles["b"].tags == {"k": "v"}
    assert roles["b"].first_seen_at == day1 and roles["b"].changed_at == day1 + timedelta(days=1)
    assert roles["a"].changed_at == day1
    assert (roles["c"].gone_at, roles["c"].last_seen_at) == (day1 + timedelta(days=1), day1)


def test_a_record_listed_twice_is_stored_once():
    account = add_account(account_id="111122223333", name="Production")
    counts = sync_observed(
        model=IamRole,
        account=account,
        records=[role_values("a"), role_values("a", tags={"second": "ignored"})],
        now=datetime(2026, 11, 1, tzinfo=UTC),
        previous_seen_at=None,
    )
    assert counts.created == 1
    assert IamRole.objects.get(account=account).tags == {}


def test_the_same_rows_in_another_account_are_separate():
    production = add_account(account_id="111122223333", name="Production")
    staging = add_account(account_id="444455556666", name="Staging")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    sync_observed(
        model=IamRole,
        account=production,
        records=[role_values("a")],
        now=now,
        previous_seen_at=None,
    )

    counts = sync_observed(
        model=IamRole, account=staging, records=[], now=now, previous_seen_at=None
    )

    assert counts.gone == 0
    assert IamRole.objects.get(account=production).gone_at is None


def test_identical_documents_are_stored_once_whatever_their_key_order():
    now = datetime(2026, 11, 1, tzinfo=UTC)
    reordered = {"Statement": TRUST["Statement"], "Version": "2012-10-17"}
    first = intern_documents(documents=[TRUST, reordered, None], now=now)
    second = intern_documents(documents=[reordered], now=now + timedelta(days=1))

    assert len(first) == 1
    assert first == second
    assert PolicyDocument.objects.count() == 1


def test_a_deleted_local_managed_policy_goes_and_comes_back_when_listed_again():
    account = add_account(account_id="111122223333", name="Production")
    arn = "arn:aws:iam::111122223333:policy/reader"
    with_policy = json.dumps(
        {
            "Policies": [
                {
                    "PolicyName": "reader",
                    "PolicyId": "ANPAREADER",
                    "Arn": arn,
                    "Path": "/",
                    "DefaultVersionId": "v1",
                    "AttachmentCount": 0,
                    "PolicyVersionList": [
                        {"Document": json.loads(policy("s3:Get*")), "VersionId": "v1"}
                    ],
                }
            ]
        }
    ).encode()
    first = import_file(account=account, kind="authorization-details", data=with_policy)

    import_file(
        account=account, kind="authorization-details", data=b'{"Policies": []}', complete=True
    )

    reader = ManagedPolicy.objects.get(arn=arn)
    assert reader.gone_at is not None
    assert reader.last_seen_at == first.finished_at

    import_file(account=account, kind="authorization-details", data=with_policy)

    reader.refresh_from_db()
    assert (reader.gone_at, reader.last_seen_at) == (None, None)
    assert reader.document.document == json.loads(policy("s3:Get*"))


@pytest.mark.parametrize("size", [3, 300])
def test_storage_is_a_fixed_number_of_statements_whatever_the_number_of_rows(
    postgres, size, django_assert_max_num_queries
):
    """On Postgres: COPY into staging, one merge, one UPDATE for what went (and the staging
    table's own statements); unchanged rows are counted but not written."""
    account = add_account(account_id="111122223333", name="Production")
    day1 = datetime(2026, 11, 1, tzinfo=UTC)
    records = [
        role_values(f"role-{n}", tags={"n": str(n), 'quote"d': "a,b\nc"}) for n in range(size)
    ]
    with django_assert_max_num_queries(9):
        first = sync_observed(
            model=IamRole, account=account, records=records, now=day1, previous_seen_at=None
        )
    assert first.as_dict() == {"created": size, "updated": 0, "unchanged": 0, "gone": 0}
    assert IamRole.objects.get(name="role-1").tags == {"n": "1", 'quote"d': "a,b\nc"}
    before = row_versions("findings_iamrole")

    with django_assert_max_num_queries(9):
        again = sync_observed(
            model=IamRole,
            account=account,
            records=records[1:],
            now=day1 + timedelta(days=1),
            previous_seen_at=day1,
        )

    assert again.as_dict() == {"created": 0, "updated": 0, "unchanged": size - 1, "gone": 1}
    after = row_versions("findings_iamrole")
    changed = {pk for pk in before if before[pk] != after[pk]}
    assert changed == {IamRole.objects.get(name="role-0").pk}


def test_copied_rows_keep_every_character_none_as_null_and_empty_text_as_empty(postgres):
    """COPY's text format escapes backslash, tab, newline and carriage return, so that no
    text reads as NULL, not even COPY's own NULL marker (`\\N`) or its end-of-data line
    (`\\.`); None is NULL."""
    account = add_account(account_id="111122223333", name="Production")
    awkward = 'tab\there, back\\slash \\N, new\nline, cr\r, quote"d, comma,'
    markers = {"\\N": "\\N", "\\.": "\\.", "": '""', '"': "\r\n"}
    sync_observed(
        model=IamRole,
        account=account,
        records=[
            role_values(
                "awkward",
                description=awkward,
                tags={awkward: awkward, "nested": ["\\", "\t", None]},
                trust_policy=None,
                path="",
                max_session_duration=7200,
                is_sso=True,
                last_used_at=datetime(2026, 10, 31, 23, 59, 59, 123456, tzinfo=UTC),
            ),
            # (The same keys as the first record: a batch's columns are the first's.)
            role_values(
                "null-marker",
                description="\\N",
                path="\\.",
                tags=markers,
                trust_policy=None,
                max_session_duration=3600,
                is_sso=False,
            ),
            role_values(
                "line-ends",
                description="\r\n\\.\n",
                path='"',
                trust_policy=None,
                max_session_duration=3600,
                is_sso=False,
            ),
        ],
        now=datetime(2026, 11, 1, tzinfo=UTC),
        previous_seen_at=None,
    )

    marker = IamRole.objects.get(name="null-marker")
    assert (marker.description, marker.path, marker.tags) == ("\\N", "\\.", markers)
    ends = IamRole.objects.get(name="line-ends")
    assert (ends.description, ends.path) == ("\r\n\\.\n", '"')
    role = IamRole.objects.get(name="awkward")
    assert role.description == awkward
    assert role.tags == {awkward: awkward, "nested": ["\\", "\t", None]}
    assert role.trust_policy is None and role.gone_at is None
    assert role.path == ""
    assert (role.max_session_duration, role.is_sso, role.is_service_linked) == (7200, True, False)
    assert role.last_used_at == datetime(2026, 10, 31, 23, 59, 59, 123456, tzinfo=UTC)
