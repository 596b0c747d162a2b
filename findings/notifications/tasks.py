"""Notification tasks: thin and idempotent."""

from celery import shared_task

from findings.notifications.digests import send_due_digests


@shared_task(name="findings.send_digests")
def send_digests() -> int:
    """Hourly; each person gets one digest per period. Idempotent by last_sent_at."""
    return send_due_digests()
