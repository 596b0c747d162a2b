"""Notification tasks: thin and idempotent."""

from celery import shared_task

from findings.notifications.digests import send_due_digests
from findings.notifications.webhooks import deliver, due_delivery_ids, queue_webhook_events


@shared_task(name="findings.send_digests")
def send_digests() -> int:
    """Hourly; each person gets one digest per period. Idempotent by last_sent_at."""
    return send_due_digests()


@shared_task(name="findings.send_webhooks")
def send_webhooks() -> int:
    """Every minute: queue new events, then one task per delivery that is due. A failed
    attempt sets its own next time (growing pauses), so retries survive worker restarts."""
    queue_webhook_events()
    ids = due_delivery_ids()
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)


@shared_task(name="findings.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: int) -> str:
    return deliver(delivery_id=delivery_id).status
