# ruff: noqa: F811 - the fixtures come from test_evidence_pack.py
"""The scope of a signed-off cycle: the database refuses to change it (migration 0034), and
deleting an account in it is refused as protected; open cycles' scope is not affected."""

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_deleted_objects
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.test import RequestFactory

from findings.models import AwsAccount, ReviewCycle
from findings.reviews.services import sign_off_cycle
from findings.reviews.summary import sign_off_summary
from tests.findings.api.test_api import release_cycle
from tests.findings.detection.test_detect import make_account
from tests.findings.reviews.test_evidence_pack import (  # noqa: F401 - fixtures
    account,
    decide,
)

pytestmark = pytest.mark.django_db

SCOPE = "findings_reviewcycle_scope_accounts"


def refused(sql: str, params) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return str(raised.value)


def run(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@pytest.fixture
def staging(db):
    """An account with nothing to review: in a cycle's scope, but in none of its items."""
    return make_account("444455556666", "Staging")


def covering(account, staging, reviewer) -> ReviewCycle:
    """An open release cycle over one role of `account`, scoped to `staging` as well."""
    cycle = release_cycle(account, reviewer, roles=1)
    cycle.scope_accounts.add(staging)
    return cycle


def signed_covering(account, staging, reviewer, approver) -> ReviewCycle:
    cycle = covering(account, staging, reviewer)
    decide(cycle.items.get(), reviewer, "keep", "used by the checkout service")
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


def scope_of(cycle: ReviewCycle) -> set[str]:
    return {a.account_id for a in ReviewCycle.objects.get(pk=cycle.pk).scope_accounts.all()}


def test_the_database_refuses_to_change_a_signed_off_cycles_scope(
    postgres, account, staging, reviewer, approver
):
    """The accounts a cycle covered are part of what was signed, even one without items:
    its scope rows were the one part of a signed-off cycle plain SQL could still rewrite."""
    cycle = signed_covering(account, staging, reviewer, approver)
    other = make_account("777788889999", "Sandbox")
    open_one = release_cycle(account, reviewer, roles=1, name="billing")
    insert = f"INSERT INTO {SCOPE} (reviewcycle_id, awsaccount_id) VALUES (%s, %s)"  # noqa: S608

    deleted = refused(f"DELETE FROM {SCOPE} WHERE awsaccount_id = %s", [staging.pk])  # noqa: S608
    assert "signed off" in deleted and "DELETE" in deleted
    assert "signed off" in refused(insert, [cycle.pk, other.pk])
    assert "signed off" in refused(
        f"UPDATE {SCOPE} SET awsaccount_id = %s WHERE reviewcycle_id = %s",  # noqa: S608
        [other.pk, cycle.pk],
    )
    assert "signed off" in refused(
        f"UPDATE {SCOPE} SET reviewcycle_id = %s WHERE reviewcycle_id = %s",  # noqa: S608
        [open_one.pk, cycle.pk],
    )
    run(insert, [open_one.pk, other.pk])
    assert "no account can be added" in refused(
        f"UPDATE {SCOPE} SET reviewcycle_id = %s WHERE reviewcycle_id = %s",  # noqa: S608
        [cycle.pk, open_one.pk],
    )
    assert scope_of(cycle) == {account.account_id, staging.account_id}


def test_an_open_cycles_scope_still_changes(postgres, account, staging, reviewer):
    """Opening a cycle and a release's new items joining it write its scope while it is open."""
    cycle = covering(account, staging, reviewer)
    other = release_cycle(account, reviewer, roles=1, name="billing")
    sandbox = make_account("777788889999", "Sandbox")
    insert = f"INSERT INTO {SCOPE} (reviewcycle_id, awsaccount_id) VALUES (%s, %s)"  # noqa: S608

    assert run(insert, [cycle.pk, sandbox.pk]) == 1
    assert (
        run(
            f"UPDATE {SCOPE} SET reviewcycle_id = %s WHERE awsaccount_id = %s",  # noqa: S608
            [other.pk, sandbox.pk],
        )
        == 1
    )
    assert run(f"DELETE FROM {SCOPE} WHERE awsaccount_id = %s", [sandbox.pk]) == 1  # noqa: S608
    assert scope_of(cycle) == {account.account_id, staging.account_id}
    assert scope_of(other) == {account.account_id}


def test_deleting_an_account_in_a_signed_off_cycles_scope_is_refused_as_protected(
    account, staging, reviewer, approver
):
    """None of the cycle's items is of the account, so nothing protected it: Django took it out
    of the signed scope (and, with 0034, PostgreSQL refused that as a database error)."""
    cycle = signed_covering(account, staging, reviewer, approver)

    with pytest.raises(ProtectedError, match="ReviewCycleScope.awsaccount") as raised:
        staging.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        AwsAccount.objects.filter(pk=staging.pk).delete()

    assert {str(row) for row in raised.value.protected_objects} == {
        f"{staging} in the scope of {cycle}"
    }
    assert AwsAccount.objects.filter(pk=staging.pk).exists()
    assert scope_of(cycle) == {account.account_id, staging.account_id}


def test_the_admin_would_explain_it_instead_of_failing(account, staging, reviewer, approver):
    """AWS accounts have no admin page (the registry's pages and commands disable them, and
    none deletes one); the admin's deletion page asks the same question of any model, and gets
    a protected object to list, not a database error."""
    cycle = signed_covering(account, staging, reviewer, approver)
    request = RequestFactory().post("/")
    request.user = approver

    _, _, _, protected = get_deleted_objects([staging], request, admin.site)

    assert protected == [f"Review cycle scope account: {staging} in the scope of {cycle}"]


def test_an_account_only_in_open_cycles_scope_is_still_deleted(account, staging, reviewer):
    cycle = covering(account, staging, reviewer)

    staging.delete()

    assert not AwsAccount.objects.filter(pk=staging.pk).exists()
    assert scope_of(cycle) == {account.account_id}
