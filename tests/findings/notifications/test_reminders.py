"""Reminders and escalation through the digests, with a frozen clock (`now=` passed in).

An assignee hears 7, 3 and 1 days before the due date, on the day, then daily while overdue;
an approver once when a cycle is ready to sign; administrators once when a cycle is overdue.
What happens to undecided items at the due date is a per-kind setting.
"""

from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.permissions import Role
from findings.models import AuditEntry, ReviewCycle, ReviewItem
from findings.notifications.digests import send_due_digests
from findings.reviews.services import check_may_sign_off, mark_no_response
from tests.conftest import make_person
from tests.findings.notifications.test_digests import SITE, UTC, prefer
from tests.findings.reviews.test_evidence import make_account

pytestmark = pytest.mark.django_db

DUE = date(2026, 12, 15)


@pytest.fixture(autouse=True)
def reminder_settings(settings):
    settings.SITE_URL = SITE
    settings.DIGEST_HOUR = 7
    settings.TIME_ZONE = "UTC"
    settings.REVIEW_REMINDER_DAYS = [0, 1, 3, 7]
    return settings


def at(day: date, hour: int = 8) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


def cycle_due(account, *, assignee=None, items: int = 2, decided: bool = False) -> ReviewCycle:
    cycle = ReviewCycle.objects.create(
        kind=ReviewCycle.Kind.QUARTERLY,
        title="Quarterly 2026-Q4",
        opened_at=at(DUE - timedelta(days=30)),
        due_on=DUE,
        population_hash="x",
        population_count=items,
    )
    ReviewItem.objects.bulk_create(
        ReviewItem(
            cycle=cycle,
            account=account,
            subject_type="user",
            subject_arn=f"arn:aws:iam::{account.account_id}:user/u{n}",
            subject_key=f"user:u{n}",
            title=f"user u{n}",
            frozen_evidence={},
            evidence_hash="x",
            assignee=assignee,
            is_decided=decided,
        )
        for n in range(items)
    )
    return cycle


def reminder_mails(to: str) -> list[str]:
    return [m.body for m in mail.outbox if m.to == [to] and "REMINDERS" in m.body]


def test_an_assignee_is_reminded_before_on_and_after_the_due_date_each_once():
    reviewer = make_person("rita.reviewer@example.com", Role.REVIEWER)
    prefer(reviewer, "weekly", last_sent_at=at(DUE - timedelta(days=40)))
    cycle = cycle_due(make_account(), assignee=reviewer)
    first_item = cycle.items.order_by("title").first()

    reminded_on = []
    for offset in range(-10, 3):
        day = DUE + timedelta(days=offset)
        before = len(reminder_mails(reviewer.email))
        send_due_digests(now=at(day))
        send_due_digests(now=at(day, hour=9))  # the hourly run again: nothing new
        if len(reminder_mails(reviewer.email)) > before:
            assert len(reminder_mails(reviewer.email)) == before + 1
            reminded_on.append(offset)

    assert reminded_on == [-7, -3, -1, 0, 1, 2]
    bodies = reminder_mails(reviewer.email)
    assert "Due in 7 days (2026-12-15): 2 items assigned to you" in bodies[0]
    assert "Due today" in bodies[3]
    assert "Overdue by 2 days" in bodies[5]
    assert f"{SITE}/review/items/{first_item.pk}/" in bodies[0]


def test_reminders_wait_for_the_digest_hour_and_respect_digests_turned_off():
    reviewer = make_person("rita.reviewer@example.com", Role.REVIEWER)
    prefer(reviewer, "weekly", last_sent_at=at(DUE - timedelta(days=2)))
    cycle_due(make_account(), assignee=reviewer)
    send_due_digests(now=at(DUE, hour=6))
    assert reminder_mails(reviewer.email) == []
    prefer(reviewer, "off", last_sent_at=at(DUE - timedelta(days=2)))
    send_due_digests(now=at(DUE, hour=8))
    assert reminder_mails(reviewer.email) == []


def test_an_approver_hears_once_that_a_cycle_is_ready_and_administrators_once_that_it_is_overdue():
    approver = make_person("paula.approver@example.com", Role.APPROVER)
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    for person in (approver, admin):
        prefer(person, "daily", last_sent_at=at(DUE - timedelta(days=5)))
    cycle_due(make_account(), decided=True)

    send_due_digests(now=at(DUE - timedelta(days=2)))
    send_due_digests(now=at(DUE - timedelta(days=1)))
    ready = reminder_mails(approver.email)
    assert len(ready) == 1 and "is ready for your sign-off" in ready[0]
    assert reminder_mails(admin.email) == []

    send_due_digests(now=at(DUE + timedelta(days=1)))
    send_due_digests(now=at(DUE + timedelta(days=2)))
    escalations = reminder_mails(admin.email)
    assert len(escalations) == 1
    assert (
        "Escalation: “Quarterly 2026-Q4” was due 2026-12-15 and is overdue by 1 day"
        in (escalations[0])
    )


def test_undecided_items_stay_open_at_the_due_date_unless_the_kind_says_no_response(settings):
    approver = make_person("paula.approver@example.com", Role.APPROVER)
    cycle = cycle_due(make_account(), items=3)
    after_due = at(DUE + timedelta(days=1))

    assert mark_no_response(now=after_due) == 0  # leave_open by default
    settings.REVIEW_AT_DUE = {**settings.REVIEW_AT_DUE, "quarterly": "no_response"}
    assert mark_no_response(now=at(DUE)) == 0  # not before the due date has passed
    assert mark_no_response(now=after_due) == 3
    assert mark_no_response(now=after_due) == 0  # idempotent

    assert cycle.items.filter(no_response_at=after_due).count() == 3
    assert AuditEntry.objects.filter(action="cycle.no_response", target_id=str(cycle.pk)).exists()
    check_may_sign_off(cycle=cycle, approver=approver)  # shown to the approver, not waited for
    assert timezone.is_aware(cycle.items.first().no_response_at)
