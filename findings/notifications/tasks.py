"""Notification tasks: thin and idempotent."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from findings.notifications.digests import send_due_digests
from findings.notifications.retention import prune_sent_reminders, prune_webhook_deliveries
from findings.notifications.webhooks import (
    DELIVERY_LEASE,
    deliver,
    due_delivery_ids,
    give_up_unfinished,
    queue_webhook_events,
)


@shared_task(name="findings.send_digests")
def send_digests() -> int:
    """Hourly; each person gets one digest per period. Idempotent by last_sent_at."""
    return send_due_digests()


@shared_task(name="findings.send_webhooks")
def send_webhooks() -> int:
    """Every minute: queue new events, then one task per delivery that is due. A failed
    attempt sets its own next time (growing pauses), so retries survive worker restarts. A
    delivery queued twice (ticks piling up while workers are busy) is sent once: each task
    claims the attempt first (deliver)."""
    queue_webhook_events()
    give_up_unfinished()
    ids = due_delivery_ids()
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)


# Stopped well before its claim's lease ends, so that no attempt outlives its claim.
@shared_task(
    name="findings.deliver_webhook",
    acks_late=True,
    soft_time_limit=DELIVERY_LEASE.total_seconds() / 2 - 30,
    time_limit=DELIVERY_LEASE.total_seconds() / 2,
)
def deliver_webhook(delivery_id: int) -> str:
    return deliver(delivery_id=delivery_id).status


@shared_task(name="findings.prune_webhook_deliveries")
def prune_old_webhook_deliveries() -> int:
    """Daily: the delivered or failed webhook deliveries older than WEBHOOK_DELIVERY_KEEP_DAYS
    go, but those whose event could still be offered again."""
    return prune_webhook_deliveries(
        now=timezone.now(), keep_days=settings.WEBHOOK_DELIVERY_KEEP_DAYS
    )


@shared_task(name="findings.prune_sent_reminders")
def prune_old_sent_reminders() -> int:
    """Daily: the records of reminders and escalations about cycles signed off more than
    SENT_REMINDER_KEEP_DAYS ago go (nothing asks about a signed-off cycle's reminders)."""
    return prune_sent_reminders(now=timezone.now(), keep_days=settings.SENT_REMINDER_KEEP_DAYS)
