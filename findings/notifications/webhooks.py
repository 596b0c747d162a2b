"""Webhooks: events for ticketing systems and chat, as signed JSON or Slack-compatible text.

Events are found by looking at the data (idempotent: each event goes once per webhook, whatever
the number of runs), queued as deliveries, and sent with retries and growing pauses. Each request
carries X-IAMReview-Timestamp and X-IAMReview-Signature: sha256=HMAC-SHA256(secret,
"<timestamp>.<body>"), so a receiver can reject forgeries and replays.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db.models import F, Min
from django.utils import timezone

from findings.models import Decision, Finding, ReviewCycle, Severity, Webhook, WebhookDelivery
from findings.notifications.reminders import open_cycles_with_progress

Event = Webhook.Event
# How long a claimed attempt keeps its delivery from being due again: longer than the attempt
# can take (the deliver task's time limit, see tasks.py), short enough that an attempt whose
# worker died is tried again soon.
DELIVERY_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class PendingEvent:
    event: str
    key: str
    happened_at: datetime
    summary: str
    data: dict


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _events_since(*, since: datetime, now: datetime) -> list[PendingEvent]:
    """Every event that happened since ``since``, in four queries. A cycle's state (ready,
    overdue) is an event observed now."""
    today = timezone.localdate(now)
    found = []
    critical = Finding.objects.filter(
        severity=Severity.CRITICAL, status=Finding.Status.OPEN, first_seen_at__gte=since
    ).select_related("account")
    for finding in critical:
        found.append(
            PendingEvent(
                Event.CRITICAL_FINDING,
                f"finding:{finding.pk}",
                finding.first_seen_at,
                f"New critical finding in {finding.account.account_id}: {finding.title}",
                {
                    "finding_id": finding.pk,
                    "check_id": finding.check_id,
                    "title": finding.title,
                    "severity": finding.severity,
                    "account_id": finding.account.account_id,
                    "resource_arn": finding.resource_arn,
                    "url": _link(f"/findings/{finding.pk}/"),
                },
            )
        )
    for cycle in open_cycles_with_progress().filter(undecided=0, items__isnull=False).distinct():
        found.append(
            PendingEvent(
                Event.CYCLE_READY,
                f"cycle-ready:{cycle.pk}",
                now,
                f"Review cycle ready to sign off: {cycle.title}",
                _cycle_data(cycle),
            )
        )
    for cycle in ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN, due_on__lt=today):
        found.append(
            PendingEvent(
                Event.CYCLE_OVERDUE,
                f"cycle-overdue:{cycle.pk}",
                now,
                f"Review cycle overdue since {cycle.due_on.isoformat()}: {cycle.title}",
                _cycle_data(cycle),
            )
        )
    remediations = Decision.objects.filter(
        kind=Decision.Kind.REMEDIATE, decided_at__gte=since
    ).select_related("item__account", "item__cycle", "decided_by")
    for decision in remediations:
        item = decision.item
        found.append(
            PendingEvent(
                Event.REMEDIATION,
                f"decision:{decision.pk}",
                decision.decided_at,
                f"Remediate {item.subject_arn} ({item.title})",
                {
                    "decision_id": decision.pk,
                    "item_id": item.pk,
                    "cycle_id": item.cycle_id,
                    "cycle_title": item.cycle.title,
                    "account_id": item.account.account_id,
                    "subject_arn": item.subject_arn,
                    "title": item.title,
                    "justification": decision.justification,
                    "decided_by": decision.decided_by.email,
                    "decided_at": decision.decided_at.isoformat(),
                    "url": _link(f"/review/items/{item.pk}/"),
                },
            )
        )
    return found


def _cycle_data(cycle: ReviewCycle) -> dict:
    return {
        "cycle_id": cycle.pk,
        "kind": cycle.kind,
        "title": cycle.title,
        "due_on": cycle.due_on.isoformat(),
        "url": _link(f"/review/cycles/{cycle.pk}/"),
    }


def _payload(*, webhook: Webhook, event: PendingEvent) -> dict:
    if webhook.format == Webhook.Format.SLACK:
        url = event.data.get("url", "")
        return {"text": f"{event.summary} <{url}|Open in iamreview>" if url else event.summary}
    return {
        "event": event.event,
        "occurred_at": event.happened_at.isoformat(),
        "summary": event.summary,
        "data": event.data,
    }


def queue_webhook_events(*, now: datetime | None = None) -> int:
    """Queue each new event for each active webhook that wants it. Returns how many were new.

    A webhook hears only of what happened after it was created (no flood of history).
    """
    now = now or timezone.now()
    webhooks = list(Webhook.objects.filter(is_active=True))
    if not webhooks:
        return 0
    since = Webhook.objects.filter(is_active=True).aggregate(first=Min("created_at"))["first"]
    events = _events_since(since=since, now=now)
    deliveries = [
        WebhookDelivery(
            webhook=webhook,
            event=event.event,
            event_key=event.key,
            payload=_payload(webhook=webhook, event=event),
            next_attempt_at=now,
        )
        for webhook in webhooks
        for event in events
        if webhook.wants(event.event) and event.happened_at >= webhook.created_at
    ]
    before = WebhookDelivery.objects.count()
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return WebhookDelivery.objects.count() - before


def due_delivery_ids(*, now: datetime | None = None) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now or timezone.now(),
            attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS,
            webhook__is_active=True,
        ).values_list("pk", flat=True)[:500]
    )


def claim_delivery(*, delivery_id: int, now: datetime) -> bool:
    """Take the delivery's next attempt, if it is due and nobody took it (compare-and-set): the
    attempt is counted and the delivery is not due again until the lease ends. Whoever sends
    it then sets its real next time; if they never do (their worker died), the lease ends and
    it is due again."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
            attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS,
            # Switched off after it was queued: not sent. (A subquery on the other table, not a
            # join: a join makes Django update through "id IN (...)", whose conditions a
            # concurrent claim's commit does not re-check, and two workers would both win.)
            webhook_id__in=Webhook.objects.filter(is_active=True).values("pk"),
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + DELIVERY_LEASE)
    )


def give_up_unfinished(*, now: datetime | None = None) -> int:
    """Fail the deliveries whose last attempt was claimed but never finished (its worker
    died): no attempt is left to claim."""
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now or timezone.now(),
        attempts__gte=settings.WEBHOOK_MAX_ATTEMPTS,
    ).update(
        status=WebhookDelivery.Status.FAILED,
        last_error="Gave up: the last attempt never finished (its worker stopped).",
    )


def backoff(*, attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... at most an hour."""
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def refused_destination(*, url: str) -> str:
    """Why a delivery to this URL is refused ("" when it may go): only http(s), and unless
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES, no host that resolves to a non-public address. Checked
    at each attempt, against what the name resolves to then."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "only http:// and https:// URLs are delivered to"
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return ""
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ""  # the request itself fails and is retried, as for any unreachable host
    for *_, address in found:
        ip = ipaddress.ip_address(address[0].split("%", 1)[0])
        if not ip.is_global:
            return (
                f"{parts.hostname} resolves to {ip}, a non-public address "
                "(set WEBHOOK_ALLOW_PRIVATE_ADDRESSES to deliver inside your network)"
            )
    return ""


def deliver(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """One attempt, if one is due (claim_delivery). Success (2xx) ends it; otherwise the next
    attempt waits longer, and after WEBHOOK_MAX_ATTEMPTS the delivery is failed. Safe to call
    any number of times, at once or in a row: each due attempt goes once."""
    claimed = claim_delivery(delivery_id=delivery_id, now=now or timezone.now())
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    if not claimed:
        return delivery
    webhook = delivery.webhook
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "iamreview-webhooks",
        "X-IAMReview-Event": delivery.event,
        "X-IAMReview-Delivery": str(delivery.pk),
        "X-IAMReview-Timestamp": str(timestamp),
        "X-IAMReview-Signature": signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    if refused := refused_destination(url=webhook.url):
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.last_status_code = None
        delivery.last_error = f"Refused: {refused}."[:500]
        delivery.save(update_fields=["status", "last_status_code", "last_error"])
        return delivery
    try:
        response = requests.post(
            webhook.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        delivery.last_status_code = None
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
        ok = False
    else:
        delivery.last_status_code = response.status_code
        ok = 200 <= response.status_code < 300
        delivery.last_error = "" if ok else f"HTTP {response.status_code}: {response.text[:200]}"
    now = now or timezone.now()
    if ok:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + backoff(attempts=delivery.attempts)
    delivery.save(
        update_fields=[
            "status",
            "delivered_at",
            "next_attempt_at",
            "last_status_code",
            "last_error",
        ]
    )
    return delivery
