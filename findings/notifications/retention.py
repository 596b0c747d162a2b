"""What notifications let go: the log of webhook deliveries, once finished and old.

Every event for every webhook is a delivery row, kept as the log of what was sent and as the
mark that the event went (its key: the same event never goes twice to the same webhook). A
finished delivery is kept for WEBHOOK_DELIVERY_KEEP_DAYS, then goes, unless its key could
still be offered again (see prune_webhook_deliveries).
"""

from datetime import datetime, timedelta

from django.db.models import F

from findings.models import ReviewCycle, WebhookDelivery
from findings.notifications.digests.news import news_overlap

# Deliveries are small rows: a few hundred at a time keeps each delete short.
PRUNE_BATCH = 500
FINISHED = [WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED]
# The keys of the events read from the open cycles (webhooks._cycle_events): "<prefix>:<cycle>".
CYCLE_KEY_PREFIXES = ["cycle-ready", "cycle-overdue"]


def prune_webhook_deliveries(
    *, now: datetime, keep_days: int, batch_size: int = PRUNE_BATCH
) -> int:
    """Delete the delivered or finally failed deliveries created more than `keep_days` before
    `now`, a batch at a time by id, and say how many went. A delivery still pending (waiting
    for its first try or a retry) stays however old.

    A deleted delivery's key no longer holds its event back, so each is deleted only once its
    event can never be offered again (queue_webhook_events):
    - a critical finding or a remediation is offered while it is news in the webhook's window,
      which starts at the webhook's last run less news_overlap() (a few hours): a delivery
      created before that start is behind every later window. That is the case of every
      delivery older than the keep window (at least 7 days, settings.py) while the webhook task
      runs every minute; the condition also holds back the deletes of a webhook whose runs
      stopped (its mark stays where it was).
    - a cycle's events (ready to sign, overdue) are offered while the cycle is open, whatever
      the window: kept until it is signed off (a signed-off cycle never opens again).
    """
    open_cycles = ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).values_list(
        "pk", flat=True
    )
    still_offered = [
        f"{prefix}:{cycle_id}" for cycle_id in open_cycles for prefix in CYCLE_KEY_PREFIXES
    ]
    expired = (
        WebhookDelivery.objects.filter(
            status__in=FINISHED,
            created_at__lt=now - timedelta(days=keep_days),
            webhook__events_seen_until__isnull=False,
        )
        .filter(created_at__lt=F("webhook__events_seen_until") - news_overlap())
        .exclude(event_key__in=still_offered)
        .order_by("pk")
    )
    deleted = 0
    while ids := list(expired.values_list("pk", flat=True)[:batch_size]):
        deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
    return deleted
