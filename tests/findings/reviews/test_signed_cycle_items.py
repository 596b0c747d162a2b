# ruff: noqa: F811 - the fixtures come from test_evidence_pack.py
"""The items of a signed-off cycle: the database refuses to change, delete or add them
(migration 0031), except the remediation follow-up; open cycles' items are not affected."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.permissions import Role
from findings.models import AwsAccount, Finding, ReviewCycle, ReviewItem
from findings.reviews.services import sign_off_cycle, verify_remediations
from findings.reviews.summary import sign_off_summary
from tests.conftest import make_person
from tests.findings.api.test_api import release_cycle
from tests.findings.reviews.test_evidence_pack import (  # noqa: F401 - fixtures
    account,
    decide,
    signed_cycle,
)

pytestmark = pytest.mark.django_db


def refused(sql: str, params) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return str(raised.value)


def run(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def first_item(cycle: ReviewCycle) -> ReviewItem:
    return cycle.items.order_by("id").first()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("title", "Someone else's role"),
        ("frozen_evidence", '{"facts": {}}'),
        ("evidence_hash", "0" * 64),
        ("severity", "low"),
        ("is_decided", False),
        ("latest_decision_id", None),
        ("assignee_id", None),
        ("freshness", "gone"),
        ("no_response_at", timezone.now()),
        ("subject_arn", "arn:aws:iam::111122223333:role/other"),
    ],
)
def test_the_database_refuses_to_change_an_item_of_a_signed_off_cycle(
    postgres, signed_cycle, column, value
):
    """Only the cycle's row and its decisions were guarded: an item's frozen evidence, its
    recorded hash or its latest decision could be rewritten with SQL after sign-off."""
    item = first_item(signed_cycle)  # delegated, then decided "remediate"
    message = refused(
        f"UPDATE findings_reviewitem SET {column} = %s WHERE id = %s",  # noqa: S608
        [value, item.pk],
    )
    assert "signed off" in message
    assert ReviewItem.objects.get(pk=item.pk).title == item.title


def test_the_database_refuses_to_delete_an_item_of_a_signed_off_cycle(postgres, signed_cycle):
    message = refused("DELETE FROM findings_reviewitem WHERE cycle_id = %s", [signed_cycle.pk])
    assert "signed off" in message and "DELETE" in message
    assert signed_cycle.items.count() == 3


def test_the_database_refuses_to_add_an_item_to_a_signed_off_cycle(
    postgres, signed_cycle, account, reviewer
):
    """Adding an item to a signed population, or moving one into it, is changing it too."""
    template = first_item(signed_cycle)
    with pytest.raises(DatabaseError, match="signed off"), transaction.atomic():
        ReviewItem.objects.create(
            cycle=signed_cycle,
            account=account,
            subject_type="role",
            subject_arn="arn:aws:iam::111122223333:role/late",
            subject_key="role:late",
            title="late",
            frozen_evidence=template.frozen_evidence,
            evidence_hash=template.evidence_hash,
        )
    open_one = release_cycle(account, reviewer, roles=1, name="billing")
    message = refused(
        "UPDATE findings_reviewitem SET cycle_id = %s WHERE id = %s",
        [signed_cycle.pk, open_one.items.get().pk],
    )
    assert "no item can be added" in message
    assert signed_cycle.items.count() == 3


def test_an_open_cycles_items_still_change_are_added_and_deleted(postgres, account, reviewer):
    """The guard is about signed-off cycles only: before sign-off the application (and a
    deletion of an open, undecided cycle) writes items as it always did."""
    cycle = release_cycle(account, reviewer, roles=2)
    item, second = cycle.items.order_by("id")
    assert run(
        "UPDATE findings_reviewitem SET title = %s, freshness = %s, assignee_id = %s WHERE id = %s",
        ["renamed", "changed", reviewer.pk, item.pk],
    )
    item.refresh_from_db()
    assert (item.title, item.freshness, item.assignee) == ("renamed", "changed", reviewer)
    other = release_cycle(account, reviewer, roles=1, name="billing")
    assert run("UPDATE findings_reviewitem SET cycle_id = %s WHERE id = %s", [other.pk, second.pk])
    assert other.items.count() == 2
    run("DELETE FROM findings_reviewitem_findings WHERE reviewitem_id = %s", [item.pk])
    assert run("DELETE FROM findings_reviewitem WHERE id = %s", [item.pk]) == 1
    assert not cycle.items.exists()
    other.delete()
    assert not ReviewItem.objects.filter(cycle_id=other.pk).exists()


def test_a_remediation_is_still_verified_after_sign_off_and_nothing_else_changes(
    postgres, signed_cycle, account
):
    """Verifying a remediation decided in the cycle is what happens after sign-off; its
    columns are the only ones written, and only while the remediation is pending."""
    pending = signed_cycle.items.get(remediation=ReviewItem.Remediation.PENDING)
    run(
        "UPDATE findings_reviewitem SET plan_check = %s WHERE id = %s",
        ['{"verdict": "broader"}', pending.pk],
    )
    Finding.objects.filter(account=account).update(
        status=Finding.Status.RESOLVED, resolved_at=timezone.now()
    )
    assert verify_remediations(account=account) == 1
    pending.refresh_from_db()
    assert pending.remediation == "verified" and pending.verified_at is not None

    # Verified: no longer pending, so the follow-up columns are locked too.
    assert "signed off" in refused(
        "UPDATE findings_reviewitem SET remediation = 'pending', verified_at = NULL WHERE id = %s",
        [pending.pk],
    )
    # An item decided otherwise cannot be made to look remediated.
    kept = signed_cycle.items.exclude(pk=pending.pk).order_by("id").first()
    assert "signed off" in refused(
        "UPDATE findings_reviewitem SET remediation = 'verified', verified_at = now() "
        "WHERE id = %s",
        [kept.pk],
    )


def test_a_pending_remediation_cannot_be_dropped_or_hide_another_change(postgres, signed_cycle):
    pending = signed_cycle.items.get(remediation=ReviewItem.Remediation.PENDING)
    assert "signed off" in refused(
        "UPDATE findings_reviewitem SET remediation = '' WHERE id = %s", [pending.pk]
    )
    assert "signed off" in refused(
        "UPDATE findings_reviewitem SET remediation = 'verified', title = 'other' WHERE id = %s",
        [pending.pk],
    )


def signed_with_an_unanswered_item(account, reviewer, approver, asked=None) -> ReviewCycle:
    """Two roles: one decided, one assigned to `asked` and marked "no response" at the due
    date (no decision of its own protects it), then signed off."""
    cycle = release_cycle(account, reviewer, roles=2)
    decided, unanswered = cycle.items.order_by("id")
    decide(decided, reviewer, "keep", "used by the checkout service")
    ReviewItem.objects.filter(pk=unanswered.pk).update(
        no_response_at=timezone.now(), assignee=asked
    )
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


def test_deleting_the_account_of_a_signed_off_cycles_items_is_refused(
    postgres, account, reviewer, approver
):
    """As for the cycle and its decisions (0030): what was signed stays, and the account with
    it. Items protect their account; an item no decision protects is refused by the database."""
    cycle = signed_with_an_unanswered_item(account, reviewer, approver)
    unanswered = cycle.items.get(is_decided=False)

    with pytest.raises(ProtectedError), transaction.atomic():
        AwsAccount.objects.filter(pk=account.pk).delete()
    with pytest.raises(DatabaseError, match="signed off"), transaction.atomic():
        unanswered.delete()

    assert AwsAccount.objects.filter(pk=account.pk).exists()
    assert cycle.items.count() == 2


def test_deleting_a_person_assigned_to_an_item_of_a_signed_off_cycle_is_refused(
    postgres, account, reviewer, approver
):
    """Deleting a person clears their assignments (SET_NULL): not on a signed-off item, whose
    record keeps who was asked, as a decision keeps who decided."""
    asked = make_person("nora.reviewer@example.com", Role.REVIEWER)
    cycle = signed_with_an_unanswered_item(account, reviewer, approver, asked=asked)
    elsewhere = make_person("omar.reviewer@example.com", Role.REVIEWER)
    open_one = release_cycle(account, reviewer, roles=1, name="billing")
    open_one.items.update(assignee=elsewhere)
    elsewhere.delete()  # assigned in an open cycle only: the assignment is cleared
    assert open_one.items.get().assignee is None

    with pytest.raises(ProtectedError, match="ReviewItem.assignee"):
        asked.delete()
    assert cycle.items.get(is_decided=False).assignee == asked


def test_the_admin_explains_why_such_a_person_cannot_be_deleted(
    postgres, client, account, reviewer, approver, administrator
):
    """It was a database error (a 500) when the trigger refused clearing the assignment."""
    asked = make_person("nora.reviewer@example.com", Role.REVIEWER)
    signed_with_an_unanswered_item(account, reviewer, approver, asked=asked)
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)

    url = f"/admin/accounts/user/{asked.pk}/delete/"
    page = client.get(url)
    refused = client.post(url, {"post": "yes"})

    assert page.status_code == refused.status_code == 200
    assert "Cannot delete" in refused.content.decode() or "would require deleting" in (
        refused.content.decode()
    )
    assert type(asked).objects.filter(pk=asked.pk).exists()
