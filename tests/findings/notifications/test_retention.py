"""Webhook deliveries (delivered or failed ones kept for WEBHOOK_DELIVERY_KEEP_DAYS) and the
records of reminders sent about signed-off cycles (kept SENT_REMINDER_KEEP_DAYS after the
sign-off), deleted by daily tasks (findings/notifications/retention.py) without a single event
or reminder sent again."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from accounts.permissions import Role
from findings.models import Finding, ReviewCycle, SentReminder, Webhook, WebhookDelivery
from findings.notifications.digests import send_due_digests
from findings.notifications.retention import prune_sent_reminders, prune_webhook_deliveries
from findings.notifications.tasks import (
    prune_old_sent_reminders,
    prune_old_webhook_deliveries,
    send_webhooks,
)
from tests.conftest import make_person
from tests.findings.notifications.test_digests import SITE, make_cycle, prefer
from tests.findings.notifications.test_reminders import DUE, at, cycle_due, reminder_mails
from tests.findings.notifications.test_webhooks import receiver, ticketing  # noqa: F401
from tests.findings.reviews.test_evidence import make_account, make_finding

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(days=120)


def logged(webhook, n: int, *, days_ago: int, status: str = "delivered") -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event=Webhook.Event.CRITICAL_FINDING,
        event_key=f"finding:{n}",
        payload={},
        status=status,
        next_attempt_at=timezone.now(),
    )
    # created_at is set on insert (auto_now_add): dated afterwards.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return delivery


@pytest.fixture
def ticketing_run_a_minute_ago(db):
    """A webhook whose task runs every minute (as beat runs it)."""
    webhook = Webhook.objects.create(
        name="Ticketing", url="https://tickets.example/hook", secret="s"
    )
    Webhook.objects.filter(pk=webhook.pk).update(
        created_at=timezone.now() - timedelta(days=400),
        events_seen_until=timezone.now() - timedelta(minutes=1),
    )
    return webhook


def kept() -> set[int]:
    return set(WebhookDelivery.objects.values_list("pk", flat=True))


def test_finished_deliveries_older_than_the_window_go_and_pending_ones_stay(
    ticketing_run_a_minute_ago,
):
    webhook = ticketing_run_a_minute_ago
    old_delivered = logged(webhook, 1, days_ago=200)
    old_failed = logged(webhook, 2, days_ago=100, status="failed")
    # Switched off before its retries, or retrying still: never deleted, however old.
    old_pending = logged(webhook, 3, days_ago=300, status="pending")
    recent = logged(webhook, 4, days_ago=30)

    deleted = prune_old_webhook_deliveries.apply().get()

    assert settings.WEBHOOK_DELIVERY_KEEP_DAYS == 90
    assert deleted == 2
    assert old_delivered.pk not in kept() and old_failed.pk not in kept()
    assert kept() == {old_pending.pk, recent.pk}
    # Running it again deletes nothing.
    assert prune_old_webhook_deliveries.apply().get() == 0


def test_deletes_in_small_batches_until_every_expired_delivery_is_gone(ticketing_run_a_minute_ago):
    for n in range(7):
        logged(ticketing_run_a_minute_ago, n, days_ago=100 + n)

    assert prune_webhook_deliveries(now=timezone.now(), keep_days=90, batch_size=2) == 7
    assert kept() == set()


def test_a_webhook_whose_runs_stopped_keeps_the_deliveries_its_window_still_reaches(
    ticketing_run_a_minute_ago,
):
    """Its next run looks back from its last one: the keys it may meet again stay."""
    webhook = ticketing_run_a_minute_ago
    Webhook.objects.filter(pk=webhook.pk).update(
        events_seen_until=timezone.now() - timedelta(days=100)
    )
    reached = logged(webhook, 1, days_ago=100)
    behind = logged(webhook, 2, days_ago=101)

    assert prune_webhook_deliveries(now=timezone.now(), keep_days=90) == 1
    assert kept() == {reached.pk}
    assert behind.pk not in kept()


def test_a_run_after_the_prune_sends_nothing_again(receiver, ticketing):  # noqa: F811
    """A delivery's key is what keeps its event from going twice: the prune deletes only keys
    no later run can meet again (findings and remediations behind the window of a few hours;
    a cycle's events once it is signed off)."""
    production = make_account()
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    Webhook.objects.filter(pk=ticketing.pk).update(created_at=timezone.now() - timedelta(days=3))
    still_open = make_cycle(production, "Q3 credentials", due_in=-2)
    signed = make_cycle(production, "Q2 credentials", due_in=-2)
    send_webhooks()
    assert len(receiver.requests) == 3
    ReviewCycle.objects.filter(pk=signed.pk).update(state=ReviewCycle.State.SIGNED_OFF)
    # All of it happened long ago; the webhook task kept running every minute since.
    Finding.objects.update(first_seen_at=timezone.now() - LONG_AGO)
    WebhookDelivery.objects.update(created_at=timezone.now() - LONG_AGO)
    Webhook.objects.filter(pk=ticketing.pk).update(
        created_at=timezone.now() - LONG_AGO - timedelta(days=3)
    )
    send_webhooks()

    assert prune_old_webhook_deliveries.apply().get() == 2
    (overdue,) = WebhookDelivery.objects.all()
    assert overdue.event_key == f"cycle-overdue:{still_open.pk}"

    send_webhooks()
    send_webhooks()
    assert len(receiver.requests) == 3
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("setting", ["WEBHOOK_DELIVERY_KEEP_DAYS", "SENT_REMINDER_KEEP_DAYS"])
@pytest.mark.parametrize("days", ["6", "-1"])
def test_a_keep_window_shorter_than_a_week_is_refused_at_start(setting, days):
    environment = {**os.environ, setting: days}
    started = subprocess.run(
        [sys.executable, "-c", "import iamreview.settings"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode != 0
    assert f"{setting} must be at least 7" in started.stderr


# --- Reminders sent -----------------------------------------------------------------------------


def signed_off(cycle: ReviewCycle, *, days_ago: int) -> ReviewCycle:
    ReviewCycle.objects.filter(pk=cycle.pk).update(
        state=ReviewCycle.State.SIGNED_OFF, signed_off_at=timezone.now() - timedelta(days=days_ago)
    )
    return cycle


def reminded(person, *keys: str, days_ago: int) -> None:
    SentReminder.objects.bulk_create(
        SentReminder(user=person, key=key, sent_at=timezone.now() - timedelta(days=days_ago))
        for key in keys
    )


def records() -> set[str]:
    return set(SentReminder.objects.values_list("key", flat=True))


def every_reminder_about(cycle: ReviewCycle) -> list[str]:
    return [
        f"due:{cycle.pk}:7",
        f"overdue:{cycle.pk}:2026-01-02",
        f"sign:{cycle.pk}",
        f"escalate:{cycle.pk}",
    ]


def test_the_reminders_of_cycles_signed_off_long_ago_go_and_the_rest_stay():
    production = make_account()
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    last_year = signed_off(make_cycle(production, "Q4 2025", due_in=-300), days_ago=250)
    last_month = signed_off(make_cycle(production, "Q3 2026", due_in=-40), days_ago=30)
    # Overdue for months and still open: its reminders are still asked about.
    still_open = make_cycle(production, "Q2 2026", due_in=-200)
    for cycle in (last_year, last_month, still_open):
        reminded(admin, *every_reminder_about(cycle), days_ago=200)
    # What the digests told (their own run drops them): left alone, however old.
    reminded(admin, "finding:17:1767225600", days_ago=200)

    deleted = prune_old_sent_reminders.apply().get()

    assert settings.SENT_REMINDER_KEEP_DAYS == 90
    assert deleted == 4
    assert records() == {
        *every_reminder_about(last_month),
        *every_reminder_about(still_open),
        "finding:17:1767225600",
    }
    # Running it again deletes nothing.
    assert prune_old_sent_reminders.apply().get() == 0


def test_reminders_are_deleted_in_small_batches_until_every_expired_one_is_gone():
    production = make_account()
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    cycles = [
        signed_off(make_cycle(production, f"Q{n}", due_in=-300), days_ago=200) for n in range(3)
    ]
    still_open = make_cycle(production, "Open", due_in=-300)
    for cycle in (*cycles, still_open):
        reminded(admin, *every_reminder_about(cycle), days_ago=250)

    assert prune_sent_reminders(now=timezone.now(), keep_days=90, batch_size=5) == 12
    assert records() == set(every_reminder_about(still_open))


def test_a_digest_after_the_prune_sends_no_reminder_again(settings):
    """A record is what keeps a reminder from going twice; reminders are built from the open
    cycles only, so the records of a signed-off cycle are never asked about again."""
    settings.SITE_URL = SITE
    settings.DIGEST_HOUR = 7
    settings.TIME_ZONE = "UTC"
    settings.REVIEW_REMINDER_DAYS = [0, 1, 3, 7]
    approver = make_person("paula.approver@example.com", Role.APPROVER)
    admin = make_person("ada.admin@example.com", Role.ADMINISTRATOR)
    for person in (approver, admin):
        prefer(person, "daily", last_sent_at=at(DUE - timedelta(days=5)))
    production = make_account()
    signed = cycle_due(production, decided=True)
    still_open = cycle_due(production, decided=True)
    send_due_digests(now=at(DUE + timedelta(days=1)))
    assert len(reminder_mails(approver.email)) == 1 and len(reminder_mails(admin.email)) == 1
    sent = len(mail.outbox)
    ReviewCycle.objects.filter(pk=signed.pk).update(
        state=ReviewCycle.State.SIGNED_OFF, signed_off_at=at(DUE + timedelta(days=2))
    )

    assert prune_sent_reminders(now=at(DUE + timedelta(days=100)), keep_days=90) == 2
    assert records() == {f"sign:{still_open.pk}", f"escalate:{still_open.pk}"}

    for day in (101, 102):
        send_due_digests(now=at(DUE + timedelta(days=day)))
    assert all("REMINDERS" not in message.body for message in mail.outbox[sent:])
