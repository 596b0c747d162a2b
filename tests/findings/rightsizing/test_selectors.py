"""Suggestions from stored evidence: policies own and inherited, usage, storing, the command."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from findings.aws.records import PrincipalServiceAccess
from findings.collection.store import store_service_last_accessed
from findings.models import (
    CollectionRun,
    IamUser,
    ManagedPolicy,
    PolicySuggestion,
    ServiceLastAccessed,
    Source,
)
from findings.models.runs import CollectionRunQuerySet
from findings.rightsizing import selectors
from findings.rightsizing.engine import AFFECTS_SHOWN
from findings.rightsizing.selectors import group_members, rightsizing_rows, suggestion_for
from findings.rightsizing.services import refresh_suggestions
from tests.conftest import run_on_sqlite
from tests.findings.detection.test_detect import (
    NOW,
    attach,
    days_ago,
    iam_group,
    iam_role,
    iam_user,
    make_account,
    observed,
    service_row,
    succeeded_run,
)

pytestmark = pytest.mark.django_db

BATCH = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:*", "sqs:*"], "Resource": "*"}
    ],
}
DATA_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "sqs:Get*"], "Resource": "*"}],
}


@pytest.fixture
def production():
    return make_account()


@pytest.fixture
def legacy_batch(production):
    role = iam_role(production, "legacy-checkout-batch-job")
    attach(production, role, BATCH, name="batch")
    service_row(production, role, "s3", used_days=2)
    service_row(production, role, "dynamodb", used_days=200)
    service_row(production, role, "sqs", used_days=None)
    return role


def test_a_role_with_unused_services_gets_a_rewritten_inline_policy(legacy_batch):
    suggestion = suggestion_for(arn=legacy_batch.arn, now=NOW)

    assert suggestion["removed_services"] == ["dynamodb", "sqs"]
    [change] = suggestion["changes"]
    assert change["action"] == "rewrite"
    assert change["after"]["Statement"][0]["Action"] == "s3:GetObject"


def test_a_user_inherits_group_policies_and_the_change_counts_every_member(production):
    developers = iam_group(production, "developers")
    alice = iam_user(production, "alice", groups=["developers"])
    bob = iam_user(production, "bob", groups=["developers"])
    shared = "arn:aws:iam::aws:policy/DataRead"
    ManagedPolicy.objects.create(
        arn=shared,
        name="DataRead",
        path="/",
        is_aws_managed=True,
        attachment_count=3,
        fingerprint="x",
        first_seen_at=NOW,
        changed_at=NOW,
    )
    attach(production, developers, DATA_READ, kind="managed", name="DataRead", ref=shared)
    for member in (alice, bob):
        service_row(production, member, "s3", used_days=1)
        service_row(production, member, "sqs", used_days=300)

    suggestion = suggestion_for(arn=alice.arn, now=NOW)

    [change] = suggestion["changes"]
    assert change["kind"] == "group" and change["action"] == "replace"
    assert change["affects_count"] == 2 and change["affects_first"] == [alice.arn, bob.arn]
    assert change["after"]["Statement"][0]["Action"] == "s3:Get*"
    assert "keeps what any of its 2 members used" in " ".join(suggestion["notes"])


GROUP_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:SendMessage"], "Resource": "*"}
    ],
}


def test_a_group_policy_keeps_what_another_member_uses(production):
    developers = iam_group(production, "developers")
    alice = iam_user(production, "alice", groups=["developers"])
    bob = iam_user(production, "bob", groups=["developers"])
    attach(production, developers, GROUP_DOCUMENT, name="dev", principal_type="group")
    service_row(production, alice, "s3", used_days=1)
    service_row(production, alice, "sqs", used_days=300)
    service_row(production, bob, "sqs", used_days=1)  # Bob sends messages every day
    service_row(production, bob, "s3", used_days=300)

    suggestion = suggestion_for(arn=alice.arn, now=NOW)

    # Alice's own view says sqs is unused by her, but the group keeps it for Bob: the
    # suggestion removes nothing of it.
    assert [s["verdict"] for s in suggestion["services"] if s["service"] == "sqs"] == ["unused"]
    assert suggestion["removed_services"] == []
    [change] = suggestion["changes"]
    assert change["action"] == "keep" and change["after"] == GROUP_DOCUMENT


def test_a_group_policy_is_kept_whole_while_a_member_has_no_usage_data(production):
    developers = iam_group(production, "developers")
    alice = iam_user(production, "alice", groups=["developers"])
    iam_user(production, "bob", groups=["developers"])  # never read
    attach(production, developers, GROUP_DOCUMENT, name="dev", principal_type="group")
    service_row(production, alice, "s3", used_days=1)
    service_row(production, alice, "sqs", used_days=300)

    [change] = suggestion_for(arn=alice.arn, now=NOW)["changes"]

    assert change["action"] == "keep"


def test_a_policy_that_is_a_boundary_elsewhere_is_replaced_not_rewritten(production):
    arn = f"arn:aws:iam::{production.account_id}:policy/app-guard"
    ManagedPolicy.objects.create(
        arn=arn,
        account=production,
        name="app-guard",
        path="/",
        is_aws_managed=False,
        attachment_count=1,  # AWS does not count boundary use
        fingerprint="x",
        first_seen_at=NOW,
        changed_at=NOW,
    )
    app_a, app_b = iam_role(production, "app-a"), iam_role(production, "app-b")
    attach(production, app_a, GROUP_DOCUMENT, kind="managed", name="app-guard", ref=arn)
    attach(production, app_b, GROUP_DOCUMENT, kind="boundary", name="app-guard", ref=arn)
    service_row(production, app_a, "s3", used_days=1)
    service_row(production, app_a, "sqs", used_days=300)

    [change] = suggestion_for(arn=app_a.arn, now=NOW)["changes"]

    assert change["action"] == "replace"
    assert change["new_policy_name"] == "app-guard-least-privilege"


def test_action_level_usage_removes_unused_actions(production):
    role = iam_role(production, "uploader")
    attach(
        production,
        role,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
            ],
        },
    )
    ServiceLastAccessed.objects.create(
        account=production,
        principal_arn=role.arn,
        service_namespace="s3",
        service_name="S3",
        last_authenticated_at=NOW,
        actions=[
            {"action": "GetObject", "last_accessed_at": NOW.isoformat()},
            {"action": "PutObject", "last_accessed_at": None},
        ],
        **observed(),
    )
    suggestion = suggestion_for(arn=role.arn, now=NOW)
    assert suggestion["changes"][0]["after"]["Statement"][0]["Action"] == "s3:GetObject"
    assert suggestion["services"][0]["action_level"] is True


def test_an_unknown_arn_is_a_lookup_error(production):
    with pytest.raises(LookupError, match="No user or role"):
        suggestion_for(arn="arn:aws:iam::111122223333:role/nobody")


def test_refreshing_stores_one_suggestion_per_principal_in_fixed_queries(
    production, legacy_batch, django_assert_max_num_queries
):
    for n in range(20):
        role = iam_role(production, f"worker-{n}")
        attach(production, role, BATCH, name=f"p{n}")
        service_row(production, role, "s3", used_days=1)
    # 12, one for policies used as boundaries, one for when each usage was read, one for the
    # other members of groups (none here), and the stored suggestions' fingerprints.
    with django_assert_max_num_queries(15):
        stored = refresh_suggestions(account=production, now=NOW)
    assert stored == 21
    assert refresh_suggestions(account=production, now=NOW) == 21  # idempotent
    top = rightsizing_rows(account_id=production.account_id).first()
    assert top.principal_name == "legacy-checkout-batch-job"
    assert top.removed_services == 2 and top.changed_policies == 1
    assert PolicySuggestion.objects.count() == 21


def test_a_principal_that_went_loses_its_suggestion(production, legacy_batch):
    refresh_suggestions(account=production, now=NOW)
    legacy_batch.gone_at = NOW
    legacy_batch.save()
    refresh_suggestions(account=production, now=NOW)
    assert not PolicySuggestion.objects.exists()


def test_rightsizing_rows_filter_by_kind_and_tag(production, legacy_batch):
    tagged = iam_role(production, "tagged", tags={"team": "payments"})
    attach(production, tagged, BATCH, name="t")
    service_row(production, tagged, "s3", used_days=1)
    service_row(production, tagged, "sqs", used_days=300)
    refresh_suggestions(account=production, now=NOW)
    assert [r.principal_name for r in rightsizing_rows(tag="team=payments")] == ["tagged"]
    assert [r.principal_name for r in rightsizing_rows(tag="team")] == ["tagged"]
    assert list(rightsizing_rows(kind="user")) == []
    # A tag key is a key, never a lookup: `__`, `contains`, `regex` are names like others.
    assert list(rightsizing_rows(tag="team__contains=x")) == []
    assert list(rightsizing_rows(tag="regex=(")) == []
    assert list(rightsizing_rows(tag="team=payments(")) == []
    with pytest.raises(ValueError):
        list(rightsizing_rows(tag="=payments"))


def test_a_tag_named_like_a_lookup_is_matched_as_a_tag(production):
    odd = iam_role(production, "odd", tags={"contains": "x", "0": "x", "gt": "b"})
    attach(production, odd, BATCH, name="o")
    service_row(production, odd, "s3", used_days=1)
    service_row(production, odd, "sqs", used_days=300)
    refresh_suggestions(account=production, now=NOW)
    for tag, expected in [("contains=x", ["odd"]), ("0=x", ["odd"]), ("gt=a", []), ("gt", ["odd"])]:
        assert [r.principal_name for r in rightsizing_rows(tag=tag)] == expected, tag


def test_suggest_policy_prints_one_json_object(legacy_batch):
    out = StringIO()
    call_command(
        "suggest_policy",
        "--arn",
        legacy_batch.arn,
        "--unused-days",
        "30",
        "--format",
        "json",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    assert printed["arn"] == legacy_batch.arn and printed["unused_days"] == 30
    assert set(printed) >= {"services", "removed_services", "changes", "notes", "validation"}
    assert set(printed["services"][0]) >= {"service", "granted_by", "last_accessed", "verdict"}
    assert set(printed["changes"][0]) >= {
        "policy",
        "kind",
        "action",
        "before",
        "after",
        "affects_count",
        "affects_first",
    }


def test_suggest_policy_rejects_an_unknown_arn_and_odd_days(legacy_batch):
    with pytest.raises(CommandError, match="No user or role"):
        call_command("suggest_policy", "--arn", "arn:aws:iam::1:role/x")
    with pytest.raises(CommandError, match="between 1 and 400"):
        call_command("suggest_policy", "--arn", legacy_batch.arn, "--unused-days", "0")


def test_access_analyzer_unused_permission_findings_are_shown_beside_with_the_differences(
    production, legacy_batch
):
    from findings.models import AccessAnalyzerFinding

    AccessAnalyzerFinding.objects.create(
        account=production,
        finding_id="5a6b",
        finding_type="UnusedPermission",
        status="ACTIVE",
        resource=legacy_batch.arn,
        resource_type="AWS::IAM::Role",
        resource_owner_account=production.account_id,
        details=[
            {"unusedPermissionDetails": {"serviceNamespace": "dynamodb"}},
            {"unusedPermissionDetails": {"serviceNamespace": "s3"}},
        ],
        **observed(),
    )
    [beside] = suggestion_for(arn=legacy_batch.arn, now=NOW)["access_analyzer"]
    assert beside["unused_services"] == ["dynamodb", "s3"]
    assert beside["only_access_analyzer"] == ["s3"]
    assert beside["only_iamreview"] == ["sqs"]


def suggestion_versions() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT principal_arn, xmin::text FROM findings_policysuggestion")
        return dict(cursor.fetchall())


def test_refreshing_again_with_nothing_changed_writes_no_suggestion(production, legacy_batch):
    worker = iam_role(production, "worker")
    attach(production, worker, BATCH, name="worker")
    service_row(production, worker, "s3", used_days=1)
    refresh_suggestions(account=production, now=NOW)
    before = suggestion_versions()
    first = PolicySuggestion.objects.get(principal_arn=worker.arn)

    # A later collection that changed nothing: not a row written; computed_at stays.
    assert refresh_suggestions(account=production, now=NOW + timedelta(hours=6)) == 2
    assert suggestion_versions() == before
    assert PolicySuggestion.objects.get(principal_arn=worker.arn).computed_at == first.computed_at

    # The worker is given one more policy: only its suggestion is written again, at that time.
    attach(production, worker, BATCH, name="more")
    later = NOW + timedelta(hours=12)
    refresh_suggestions(account=production, now=later)
    after = suggestion_versions()
    assert after[legacy_batch.arn] == before[legacy_batch.arn]
    assert after[worker.arn] != before[worker.arn]
    assert PolicySuggestion.objects.get(principal_arn=worker.arn).computed_at == later


def all_users_group(account, count: int) -> list[IamUser]:
    """An "AllUsers" group of ``count`` users, each using s3 and not sqs, which its policy grants
    (AWS's manage-your-own-credentials policy is in such a group in most accounts)."""
    group = iam_group(account, "AllUsers")
    attach(account, group, GROUP_DOCUMENT, name="credentials")
    users = IamUser.objects.bulk_create(
        IamUser(
            account=account,
            arn=f"arn:aws:iam::{account.account_id}:user/user-{n:05d}",
            name=f"user-{n:05d}",
            user_id=f"AIDAUSER{n:05d}",
            path="/",
            create_date=days_ago(400),
            groups=["AllUsers"],
            **observed(),
        )
        for n in range(count)
    )
    ServiceLastAccessed.objects.bulk_create(
        ServiceLastAccessed(
            account=account,
            principal_arn=user.arn,
            service_namespace=namespace,
            service_name=namespace,
            last_authenticated_at=days_ago(days),
            **observed(),
        )
        for user in users
        for namespace, days in (("s3", 1), ("sqs", 300))
    )
    return users


def test_a_members_stored_suggestion_does_not_grow_with_its_group():
    """Each user's suggestion named every member of a group of all users: an account's stored
    suggestions grew with the square of its users (640 MB at 4,000)."""
    sizes = {}
    for count, account_id in ((12, "111111111111"), (120, "222222222222")):
        account = make_account(account_id=account_id, name=f"{count} users")
        users = all_users_group(account, count)
        refresh_suggestions(account=account, now=NOW)
        stored = PolicySuggestion.objects.get(principal_arn=users[0].arn)
        [change] = stored.data["changes"]
        assert change["action"] == "rewrite" and change["affects_count"] == count
        assert len(change["affects_first"]) <= AFFECTS_SHOWN
        sizes[count] = len(json.dumps(stored.data))
    # Both name their first 10 members: only the counts' digits differ ("its 120 members").
    assert abs(sizes[120] - sizes[12]) <= 8


def test_the_members_of_groups_are_read_where_every_one_is_needed(production):
    users = all_users_group(production, 25)
    iam_user(production, "ops", groups=["AllUsers", "ops"])
    iam_user(production, "gone", groups=["AllUsers"])
    IamUser.objects.filter(name="gone").update(gone_at=NOW)

    members = group_members(account=production, groups=["AllUsers", "ops", "nobody"])

    every = sorted([*(u.arn for u in users), f"arn:aws:iam::{production.account_id}:user/ops"])
    assert members == {
        "AllUsers": every,
        "ops": [f"arn:aws:iam::{production.account_id}:user/ops"],
        "nobody": [],
    }


def test_a_refresh_that_changes_nothing_writes_no_suggestion_of_a_large_group(production):
    users = all_users_group(production, 30)
    refresh_suggestions(account=production, now=NOW)
    before = suggestion_versions()
    assert len(before) == len(users)

    refresh_suggestions(account=production, now=NOW + timedelta(hours=6))

    assert suggestion_versions() == before


def test_access_analyzer_checks_a_suggestion_once_while_it_stays_the_same(legacy_batch):
    from findings.rightsizing.services import record_aws_validation

    production = legacy_batch.account
    refresh_suggestions(account=production, now=NOW)
    checked = []

    def check(document):
        checked.append(document)
        return []

    assert record_aws_validation(account=production, check=check) == 1
    assert len(checked) == 1
    stored = PolicySuggestion.objects.get(principal_arn=legacy_batch.arn)
    assert stored.data["validation"]["checked_by"] == "access-analyzer"

    refresh_suggestions(account=production, now=NOW)  # unchanged: AWS's check is kept
    assert record_aws_validation(account=production, check=check) == 0
    assert len(checked) == 1
    stored.refresh_from_db()
    assert stored.data["validation"]["checked_by"] == "access-analyzer"


def test_a_suggestion_recomputed_while_aws_checks_it_keeps_its_own_data(legacy_batch):
    """ValidatePolicy takes a while: another source's run may recompute the suggestion
    meanwhile. The check must not write the old document back over the new one (it would then
    stay, as every later unchanged refresh matches the new fingerprint)."""
    from findings.models import ServiceLastAccessed
    from findings.rightsizing.services import record_aws_validation
    from tests.findings.detection.test_detect import days_ago

    production = legacy_batch.account
    refresh_suggestions(account=production, now=NOW)

    def check(document):
        # Meanwhile: DynamoDB turns out used, and the suggestion is recomputed.
        ServiceLastAccessed.objects.filter(
            principal_arn=legacy_batch.arn, service_namespace="dynamodb"
        ).update(last_authenticated_at=days_ago(1))
        refresh_suggestions(account=production, now=NOW + timedelta(hours=1))
        return []

    assert record_aws_validation(account=production, check=check) == 0
    refresh_suggestions(account=production, now=NOW + timedelta(hours=2))
    stored = PolicySuggestion.objects.get(principal_arn=legacy_batch.arn)
    assert stored.data["removed_services"] == ["sqs"] and stored.removed_services == 1
    assert stored.data["validation"]["checked_by"] != "access-analyzer"  # to be sent next time


# --- How old the usage is ----------------------------------------------------------------------

STALE_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}],
}


@pytest.fixture
def daily_batch(production):
    role = iam_role(production, "daily-batch")
    attach(production, role, STALE_DOCUMENT, name="batch")
    return role


def test_usage_read_long_ago_removes_nothing(production, daily_batch):
    # Service last-accessed has failed for 100 days; the last read showed s3 used the day before.
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(100))
    service_row(production, daily_batch, "s3", used_days=101)
    service_row(production, daily_batch, "sqs", used_days=300)

    suggestion = suggestion_for(arn=daily_batch.arn, now=NOW)

    assert suggestion["removed_services"] == []
    assert [c["action"] for c in suggestion["changes"]] == ["keep"]
    assert {s["verdict"] for s in suggestion["services"]} == {"stale"}
    assert "100 days ago" in suggestion["notes"][0]
    assert "too old to remove anything" in suggestion["notes"][0]


def test_usage_is_judged_as_of_when_it_was_read(production, daily_batch):
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(1))
    service_row(production, daily_batch, "s3", used_days=91)  # 90 days before the read
    service_row(production, daily_batch, "sqs", used_days=300)

    suggestion = suggestion_for(arn=daily_batch.arn, now=NOW)

    assert suggestion["removed_services"] == ["sqs"]


def test_a_principal_whose_job_failed_is_judged_by_its_older_read(production, daily_batch):
    other = iam_role(production, "other")
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(10))
    latest = succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(0.1))
    latest.counts = {"unread": [daily_batch.arn]}
    latest.save()
    service_row(production, daily_batch, "s3", used_days=95)
    service_row(production, daily_batch, "sqs", used_days=300)

    assert CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[daily_batch.arn, other.arn]
    ) == {daily_batch.arn: days_ago(10), other.arn: days_ago(0.1)}
    suggestion = suggestion_for(arn=daily_batch.arn, now=NOW)
    assert suggestion["removed_services"] == []
    assert "10 days ago" in suggestion["notes"][0]


def test_an_import_of_one_principal_dates_only_that_principal(production, daily_batch):
    other = iam_role(production, "other")
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(1))
    upload = succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(0.1))
    upload.counts = {"read": [other.arn]}
    upload.save()

    assert CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[daily_batch.arn, other.arn]
    ) == {daily_batch.arn: days_ago(1), other.arn: days_ago(0.1)}


def test_a_cut_list_of_unread_principals_dates_nobody_by_that_run(production, daily_batch):
    succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(3))
    cut = succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(0.1))
    cut.counts = {"unread": ["arn:aws:iam::123456789012:role/x"], "unread_more": 900}
    cut.save()

    assert CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[daily_batch.arn]
    ) == {daily_batch.arn: days_ago(3)}


def test_a_collection_names_the_principals_it_could_not_read_and_an_import_the_one_it_read(
    production, daily_batch
):
    other = iam_role(production, "other")
    read = PrincipalServiceAccess(
        principal_arn=other.arn, job_status="COMPLETED", services=(), error=None
    )
    failed = PrincipalServiceAccess(
        principal_arn=daily_batch.arn, job_status="FAILED", services=(), error="Throttling"
    )
    collected = store_service_last_accessed(
        account=production, results=(read, failed), now=NOW, previous_seen_at=None
    )
    assert collected["unread"] == [daily_batch.arn] and "read" not in collected
    imported = store_service_last_accessed(
        account=production,
        results=(read,),
        now=NOW,
        previous_seen_at=None,
        every_principal=False,
    )
    assert imported["read"] == [other.arn] and "unread" not in imported


def test_imports_of_other_principals_do_not_make_an_old_read_look_new(production, daily_batch):
    collection = succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(100))
    for n in range(CollectionRunQuerySet.RUNS_LOOKED_AT):
        upload = succeeded_run(production, Source.SERVICE_LAST_ACCESSED, at=days_ago(1 + n / 100))
        upload.counts = {"read": [f"arn:aws:iam::111122223333:role/other-{n}"]}
        upload.save()

    assert CollectionRun.objects.service_access_read_at(
        account_id=production.pk, principal_arns=[daily_batch.arn]
    ) == {daily_batch.arn: collection.finished_at}
    service_row(production, daily_batch, "s3", used_days=101)
    service_row(production, daily_batch, "sqs", used_days=300)
    assert suggestion_for(arn=daily_batch.arn, now=NOW)["removed_services"] == []


def test_a_group_policy_reads_only_the_recent_action_lists_of_other_members(
    production, django_assert_max_num_queries
):
    developers = iam_group(production, "developers")
    alice = iam_user(production, "alice", groups=["developers"])
    for n in range(30):
        member = iam_user(production, f"dev{n}", groups=["developers"])
        service_row(production, member, "s3", used_days=300)
        service_row(production, member, "sqs", used_days=1 if n == 29 else 300)
    attach(production, developers, GROUP_DOCUMENT, name="dev", principal_type="group")
    service_row(production, alice, "s3", used_days=1)
    service_row(production, alice, "sqs", used_days=300)

    with django_assert_max_num_queries(16):
        suggestion = suggestion_for(arn=alice.arn, now=NOW)

    # dev29 sends messages: the group keeps sqs for everyone, and says so.
    [change] = suggestion["changes"]
    assert change["action"] == "keep"
    assert "31 members" in " ".join(suggestion["notes"])


def test_the_members_of_groups_are_read_on_sqlite_too(tmp_path):
    """`make run`'s SQLite has no JSON containment lookup: the CloudFormation download of a
    group policy's change was a 500 there."""
    found = run_on_sqlite(
        """
import json
from django.utils import timezone
from findings.collection.registry import add_account
from findings.models import IamUser
from findings.rightsizing.selectors import group_members

account = add_account(account_id="111122223333", name="Production")
for name, groups in [("ann", ["AllUsers"]), ("bob", ["AllUsers", "ops"]), ("cy", [])]:
    IamUser.objects.create(
        account=account, arn=f"arn:aws:iam::111122223333:user/{name}", name=name,
        user_id=f"AIDA{name.upper()}", path="/", create_date=timezone.now(), groups=groups,
        fingerprint="x", first_seen_at=timezone.now(), changed_at=timezone.now(),
    )
print(json.dumps(group_members(account=account, groups=["AllUsers", "ops"])))
""",
        tmp_path,
    )
    iam = "arn:aws:iam::111122223333:user"
    assert found == {"AllUsers": [f"{iam}/ann", f"{iam}/bob"], "ops": [f"{iam}/bob"]}


@pytest.mark.parametrize(
    ("ref", "aws_managed"),
    [
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws-cn:iam::aws:policy/ReadOnlyAccess", True),
        ("arn:aws-us-gov:iam::aws:policy/service-role/AWSLambdaRole", True),
        ("arn:aws:iam::111122223333:policy/ReadOnlyAccess", False),
        ("inline-policy", False),
    ],
)
def test_an_aws_managed_policy_is_known_by_its_arn_in_any_partition(ref, aws_managed):
    assert selectors._names_an_aws_managed_policy(ref) is aws_managed
