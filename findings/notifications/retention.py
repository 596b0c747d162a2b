"""What notifications let go: the log of webhook deliveries and the records of reminders sent,
once nothing can read them again.

Every event for every webhook is a delivery row, kept as the log of what was sent and as the
mark that the event went (its key: the same event never goes twice to the same webhook). A
finished delivery is kept for WEBHOOK_DELIVERY_KEEP_DAYS, then goes, unless its key could
still be offered again (see prune_webhook_deliveries). Each reminder or escalation sent is a
record (SentReminder: "due:<cycle>:<days>", "overdue:<cycle>:<date>", "sign:<cycle>",
"escalate:<cycle>") kept so that it goes to a person once; they are built from the open cycles
only (reminders.py), so a signed-off cycle's records are never read again and go
SENT_REMINDER_KEEP_DAYS after its sign-off (see prune_sent_reminders). The digests' records of
what each person was told ("finding:...") are dropped by the digest run itself (TOLD_KEPT).
"""

from datetime import datetime, timedelta

from django.db.models import F, Q

from findings.models import ReviewCycle, SentReminder, WebhookDelivery
from findings.models.bulk import delete_in_batches
from findings.notifications.digests.news import news_overlap

# Deliveries are small rows: a few hundred at a time keeps each delete short.
PRUNE_BATCH = 500
FINISHED = [WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED]
# The keys of the events read from the open cycles (webhooks._cycle_events): "<prefix>:<cycle>".
CYCLE_KEY_PREFIXES = ["cycle-ready", "cycle-overdue"]
# The reminders' keys, each "<prefix>:<cycle>[:...]" (reminders.py).
REMINDER_KEY_PREFIXES = ["due", "overdue", "sign", "escalate"]


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
    return delete_in_batches(rows=expired, batch_size=batch_size)


def prune_sent_reminders(*, now: datetime, keep_days: int, batch_size: int = PRUNE_BATCH) -> int:
    """Delete the records of reminders and escalations about cycles signed off more than
    `keep_days` before `now` (and sent before then), a batch at a time by id, and say how many
    went.

    A record is what keeps its reminder from going to its person again, and reminders are
    built from the open cycles only (assigned_items, open_cycles_with_progress): a signed-off
    cycle never opens again, so its keys are never asked about again. Waiting `keep_days`
    after the sign-off leaves any digest run that read the cycle as open just before it was
    signed far behind. The digests' "finding:" records are left to the digest run."""
    cutoff = now - timedelta(days=keep_days)
    # The few cycles whose keys may still be read: open, or signed off within the window.
    still_read = set(
        ReviewCycle.objects.filter(
            Q(state=ReviewCycle.State.OPEN)
            | Q(signed_off_at__isnull=True)
            | Q(signed_off_at__gte=cutoff)
        ).values_list("pk", flat=True)
    )
    about_a_cycle = Q()
    for prefix in REMINDER_KEY_PREFIXES:
        about_a_cycle |= Q(key__startswith=f"{prefix}:")
    candidates = SentReminder.objects.filter(about_a_cycle, sent_at__lt=cutoff).order_by("pk")
    deleted = 0
    after = 0
    while batch := list(candidates.filter(pk__gt=after).values_list("pk", "key")[:batch_size]):
        after = batch[-1][0]
        ids = [pk for pk, key in batch if (cycle := _cycle_of(key)) and cycle not in still_read]
        if ids:
            deleted += SentReminder.objects.filter(pk__in=ids).delete()[0]
    return deleted


def _cycle_of(key: str) -> int | None:
    """The cycle a reminder's key is about ("due:<cycle>:7" -> cycle); None if unreadable
    (such a record is kept)."""
    _, _, rest = key.partition(":")
    cycle = rest.split(":", 1)[0]
    return int(cycle) if cycle.isdigit() else None
