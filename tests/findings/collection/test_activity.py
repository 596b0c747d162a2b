"""Each user's last activity, kept on the user row by collection for the inventory's "stalest
first": set from the credential report, written only when it moves, kept when the user changes."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from findings.collection.imports import import_file
from findings.collection.registry import add_account
from findings.models import CredentialReportEntry, IamUser
from findings.models.evidence import NEVER

pytestmark = pytest.mark.django_db

ACCOUNT = "111122223333"
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
CREATED = "2021-05-03T10:00:00+00:00"


def report_row(name: str, *, password: str = "N/A", key1: str = "N/A", key2: str = "N/A") -> str:
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    return ",".join(
        [name, arn, CREATED, "true" if password != "N/A" else "false", password, CREATED, "N/A"]
        + ["false", "true", CREATED, key1, "us-east-1" if key1 != "N/A" else "N/A"]
        + ["s3" if key1 != "N/A" else "N/A", "true" if key2 != "N/A" else "false"]
        + [CREATED if key2 != "N/A" else "N/A", key2, "N/A", "N/A", "false", "N/A", "false", "N/A"]
    )


def report(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode() + b"\n"


def users_file(*names: str, tags: dict | None = None) -> bytes:
    return json.dumps(
        {
            "UserDetailList": [
                {
                    "UserName": name,
                    "UserId": f"AIDA{name.upper()}",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
                    "Path": "/",
                    "CreateDate": CREATED,
                    "GroupList": [],
                    "UserPolicyList": [],
                    "AttachedManagedPolicies": [],
                    "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).get(name, {}).items()],
                }
                for name in names
            ],
            "GroupDetailList": [],
            "RoleDetailList": [],
            "Policies": [],
        }
    ).encode()


def activity() -> dict[str, datetime]:
    return dict(IamUser.objects.values_list("name", "last_activity"))


def versions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, xmin::text FROM findings_iamuser")
        return dict(cursor.fetchall())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def account():
    return add_account(account_id=ACCOUNT, name="Production")


def test_last_activity_is_the_latest_use_of_a_password_or_key_whichever_file_comes_first(
    account,
):
    rows = [
        report_row("alice", password="2026-10-01T08:00:00+00:00", key1="2026-10-20T08:00:00+00:00"),
        report_row("bob", key2="2026-03-01T08:00:00+00:00"),
        report_row("carol"),
    ]
    import_file(account=account, kind="credential-report", data=report(*rows))
    import_file(
        account=account, kind="authorization-details", data=users_file("alice", "bob", "carol")
    )
    expected = {
        "alice": at("2026-10-20T08:00:00+00:00"),
        "bob": at("2026-03-01T08:00:00+00:00"),
        "carol": NEVER,
    }
    assert activity() == expected

    # The other order: users first (no report row yet: never), then the report.
    IamUser.objects.all().delete()
    CredentialReportEntry.objects.all().delete()
    import_file(
        account=account, kind="authorization-details", data=users_file("alice", "bob", "carol")
    )
    assert activity() == dict.fromkeys(expected, NEVER)
    import_file(account=account, kind="credential-report", data=report(*rows))
    assert activity() == expected


def test_only_a_user_whose_activity_moved_is_written_and_a_changed_user_keeps_it(account, postgres):
    import_file(
        account=account, kind="authorization-details", data=users_file("alice", "bob", "carol")
    )
    first = [report_row("alice", key1="2026-10-20T08:00:00+00:00"), report_row("bob")]
    import_file(account=account, kind="credential-report", data=report(*first))
    before = versions()

    # Unchanged files: not one user row written.
    import_file(account=account, kind="credential-report", data=report(*first))
    import_file(
        account=account, kind="authorization-details", data=users_file("alice", "bob", "carol")
    )
    assert versions() == before

    # Bob used a key: only bob's row moves.
    moved = [first[0], report_row("bob", key1="2026-11-02T08:00:00+00:00")]
    import_file(account=account, kind="credential-report", data=report(*moved))
    after = versions()
    assert {name for name in after if after[name] != before[name]} == {"bob"}
    assert activity()["bob"] == at("2026-11-02T08:00:00+00:00")

    # Alice gets a tag: her row is rewritten by the users' sync, her activity stays.
    import_file(
        account=account,
        kind="authorization-details",
        data=users_file("alice", "bob", "carol", tags={"alice": {"team": "ops"}}),
    )
    assert IamUser.objects.get(name="alice").tags == {"team": "ops"}
    assert activity()["alice"] == at("2026-10-20T08:00:00+00:00")


def test_the_stalest_first_inventory_follows_collected_activity(account, client, reviewer):
    import_file(
        account=account, kind="authorization-details", data=users_file("alice", "bob", "carol")
    )
    rows = [
        report_row("alice", password="2026-11-01T08:00:00+00:00"),
        report_row("bob", key1="2025-01-01T08:00:00+00:00"),
        report_row("carol"),
    ]
    import_file(account=account, kind="credential-report", data=report(*rows))
    client.force_login(reviewer)
    page = client.get("/inventory/users/?sort=stale").context["page"]
    assert [user.name for user in page.object_list] == ["carol", "bob", "alice"]
