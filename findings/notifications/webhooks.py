"""Webhooks: events for ticketing systems and chat, as signed JSON or Slack-compatible text.

Events are found by looking at the data (idempotent: each event goes once per webhook, whatever
the number of runs), queued as deliveries, and sent with retries and growing pauses. Each request
carries X-IAMReview-Timestamp and X-IAMReview-Signature: sha256=HMAC-SHA256(secret,
"<timestamp>.<body>"), so a receiver can reject forgeries and replays; a JSON body also
carries its delivery id and event key, the keys a receiver deduplicates on.

A request goes only where its URL was checked to lead: the URL is read once (the way urllib3,
and so requests, reads it) and refused unless it reads the same every way; the name is resolved
once, every address it has is checked, and the connection is made to a checked address while
the Host header, TLS SNI and certificate check stay the name's. The whole exchange ends within
WEBHOOK_TIMEOUT_SECONDS, and the answer's body is never read (webhook_transport, with urllib3).

Through an egress proxy (HTTPS_PROXY / HTTP_PROXY, unless NO_PROXY names the host) the name's
addresses are still checked first, but the proxy resolves the name again and connects where its
own DNS says: keeping requests away from internal addresses is then the proxy's job as well (and
a name the app cannot resolve itself is left to the proxy).
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from findings.models import (
    Decision,
    Finding,
    FindingEvent,
    ReviewCycle,
    Severity,
    Webhook,
    WebhookDelivery,
)
from findings.notifications.digests.news import news_overlap
from findings.notifications.reminders import open_cycles_with_progress
from findings.notifications.webhook_transport import (
    Answer,
    DeliveryFailed,
    Destination,
    post,
    proxy_for,
    trust_store,
)

Event = Webhook.Event
# How long a claimed attempt keeps its delivery from being due again: longer than the attempt
# can take (the deliver task's time limit, see tasks.py), short enough that an attempt whose
# worker died is tried again soon.
DELIVERY_LEASE = timedelta(minutes=10)
# How an existing finding comes back into view as an open critical one: reopened, its
# exclusion ended, its severity changed (the partial index finding_event_back_at).
COMING_BACK = [FindingEvent.Kind.REOPENED, FindingEvent.Kind.INCLUDED, FindingEvent.Kind.CHANGED]
# Rows inserted, or keys looked up, per statement: fewer where the backend takes fewer
# parameters (SQLite, as Django counts it: 999), so the first run after an upgrade, which
# reads the whole history since each webhook was created, fits any backend.
BATCH = 500


@dataclass(frozen=True)
class PendingEvent:
    event: str
    key: str
    happened_at: datetime
    summary: str
    data: dict
    # When it became news, for the window of recent events: a finding's first sighting or
    # its latest coming back, a decision's date. None for a cycle's events, read from the
    # open cycles whatever the window.
    news_at: datetime | None = None


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _critical_findings(*, since: datetime) -> list[PendingEvent]:
    """Open critical findings that became news since ``since``: first seen then, or come back
    then (reopened, exclusion ended, raised to critical). Each coming back is news of its own
    (a finding fixed and back again is a regression), keyed by when it came back, so a run
    whose window reaches it again finds it held. Two queries, on the indexes that reach only
    the window (finding_first_seen, finding_event_back_at), the second joined to the events in
    the database: no list of ids goes back and forth, whatever the size of the history."""
    open_critical = (
        Finding.objects.filter(severity=Severity.CRITICAL, status=Finding.Status.OPEN)
        .select_related("account")
        .order_by()
    )
    news = {
        finding.pk: (finding, finding.first_seen_at, f"finding:{finding.pk}")
        for finding in open_critical.filter(first_seen_at__gte=since)
    }
    came_back = open_critical.filter(events__kind__in=COMING_BACK, events__at__gte=since).annotate(
        back_at=Max("events__at")
    )
    for finding in came_back:
        if finding.back_at > finding.first_seen_at:
            news[finding.pk] = (finding, finding.back_at, _back_key(finding.pk, finding.back_at))
    return [
        PendingEvent(
            Event.CRITICAL_FINDING,
            key,
            finding.first_seen_at,
            (
                f"Critical finding back in {finding.account.account_id}: {finding.title}"
                if news_at > finding.first_seen_at
                else f"New critical finding in {finding.account.account_id}: {finding.title}"
            ),
            {
                "finding_id": finding.pk,
                # When it came back (reopened, exclusion ended, raised to critical); null for a
                # finding first seen now.
                "came_back_at": news_at.isoformat() if news_at > finding.first_seen_at else None,
                "check_id": finding.check_id,
                "title": finding.title,
                "severity": finding.severity,
                "account_id": finding.account.account_id,
                "resource_arn": finding.resource_arn,
                "url": _link(f"/findings/{finding.pk}/"),
            },
            news_at=news_at,
        )
        for finding, news_at, key in news.values()
    ]


def _back_key(finding_id: int, back_at: datetime) -> str:
    """The key of a finding's coming back at ``back_at``: its first sighting's key and that
    moment, in UTC. What one detection changed in it (reopened and raised at once), dated
    alike, is one event."""
    return f"finding:{finding_id}:back:{back_at.astimezone(UTC).isoformat(timespec='microseconds')}"


def _remediations(*, since: datetime) -> list[PendingEvent]:
    """Remediations decided since ``since``: one query, on decision_remediate_at."""
    remediations = Decision.objects.filter(
        kind=Decision.Kind.REMEDIATE, decided_at__gte=since
    ).select_related("item__account", "item__cycle", "decided_by")
    found = []
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
                news_at=decision.decided_at,
            )
        )
    return found


def _cycle_events(*, since: datetime, now: datetime, wanted: set[str]) -> list[PendingEvent]:
    """The open cycles ready to sign or overdue (few: cycles are signed off soon) whose event
    happened since ``since``, in a query each. Each is dated when it happened, not when it is
    seen: a cycle went overdue at the start of the day after its due date, and became ready to
    sign at its last decision (or when its last items were closed as no response), so a
    webhook created later never hears of it. They are read whatever the window of recent
    events, as an event can happen at a date already behind it (a cycle opened with a due date
    past, one whose last undecided items left it)."""
    found = []
    # When each became ready is its items' latest decision: one grouped query, which reads a
    # ready cycle's items in the database (no column keeps a cycle's last decision), never
    # in Python.
    ready = (
        open_cycles_with_progress()
        .filter(undecided=0, tally__total__gt=0)
        .annotate(
            ready_at=Greatest(
                Coalesce(Max("items__latest_decision__decided_at"), F("opened_at")),
                Coalesce(Max("items__no_response_at"), F("opened_at")),
            )
        )
        .filter(ready_at__gte=since)
    )
    for cycle in ready if Event.CYCLE_READY in wanted else ():
        found.append(
            PendingEvent(
                Event.CYCLE_READY,
                f"cycle-ready:{cycle.pk}",
                cycle.ready_at,
                f"Review cycle ready to sign off: {cycle.title}",
                _cycle_data(cycle),
            )
        )
    # Overdue from the first moment of the day after the due date (what "due_on < today" says).
    overdue = ReviewCycle.objects.filter(
        state=ReviewCycle.State.OPEN,
        due_on__lt=timezone.localdate(now),
        due_on__gte=timezone.localdate(since) - timedelta(days=1),
    )
    for cycle in overdue if Event.CYCLE_OVERDUE in wanted else ():
        found.append(
            PendingEvent(
                Event.CYCLE_OVERDUE,
                f"cycle-overdue:{cycle.pk}",
                _overdue_since(cycle.due_on),
                f"Review cycle overdue since {cycle.due_on.isoformat()}: {cycle.title}",
                _cycle_data(cycle),
            )
        )
    return found


def _overdue_since(due_on: date) -> datetime:
    """When a cycle due on ``due_on`` became overdue: the start of the next day, in TIME_ZONE."""
    return timezone.make_aware(datetime.combine(due_on + timedelta(days=1), dt_time.min))


def _cycle_data(cycle: ReviewCycle) -> dict:
    return {
        "cycle_id": cycle.pk,
        "kind": cycle.kind,
        "title": cycle.title,
        "due_on": cycle.due_on.isoformat(),
        "url": _link(f"/review/cycles/{cycle.pk}/"),
    }


def slack_escaped(*, text: str) -> str:
    """Text as Slack's mrkdwn shows it literally: its only control characters, &, < and >,
    escaped (Slack's rule), so a name holding `<!channel>` or `<https://...|Sign here>` pings
    nobody and links nowhere."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _payload(*, webhook: Webhook, event: PendingEvent) -> dict:
    if webhook.format == Webhook.Format.SLACK:
        # The summary is fixed words around the event's values (titles, ARNs, account ids):
        # escaping all of it escapes every value.
        text = slack_escaped(text=event.summary)
        if url := event.data.get("url", ""):
            text = f"{text} <{slack_escaped(text=url)}|Open in iamreview>"
        return {"text": text}
    return {
        "event": event.event,
        "occurred_at": event.happened_at.isoformat(),
        "summary": event.summary,
        "data": event.data,
    }


def queue_webhook_events(*, now: datetime | None = None) -> int:
    """Queue each new event for each active webhook that wants it. Returns how many were queued.

    A webhook hears only of what happened after it was created (no flood of history). Critical
    findings (first seen, or come back) and remediations are read in a window of recent
    events: from its last run's `now` (events_seen_until) less news_overlap(), so that what a
    long transaction dated before that run but committed after it is still found, or from its
    creation before its first run. A run costs what is recent, not the whole history. The mark
    moves on while a webhook is switched off, so one switched back on (or given another event)
    hears of the findings and remediations from news_overlap() before then (what it missed in
    those last hours among them), not of everything it missed; and, as ever, of the open
    cycles ready to sign or overdue since it was created (see _cycle_events). Only what no
    delivery holds yet is inserted: a run with nothing new inserts nothing.
    """
    now = now or timezone.now()
    webhooks = list(Webhook.objects.filter(is_active=True))
    queued = _queue(webhooks=webhooks, now=now) if webhooks else 0
    # Every webhook, switched off or not, has now been looked at until `now` (never back:
    # a run that started earlier and ended later leaves the later mark).
    Webhook.objects.filter(Q(events_seen_until=None) | Q(events_seen_until__lt=now)).update(
        events_seen_until=now
    )
    return queued


def _window_start(webhook: Webhook) -> datetime:
    """Where this webhook's window of recent events starts."""
    if webhook.events_seen_until is None:
        return webhook.created_at
    return max(webhook.created_at, webhook.events_seen_until - news_overlap())


def _queue(*, webhooks: list[Webhook], now: datetime) -> int:
    starts = {webhook.pk: _window_start(webhook) for webhook in webhooks}
    since = min(starts.values())
    wanted = {event for event in Event.values if any(w.wants(event) for w in webhooks)}
    events = [
        *(_critical_findings(since=since) if Event.CRITICAL_FINDING in wanted else ()),
        *(_remediations(since=since) if Event.REMEDIATION in wanted else ()),
        *_cycle_events(since=min(w.created_at for w in webhooks), now=now, wanted=wanted),
    ]
    offered = [
        (webhook, event)
        for webhook in webhooks
        for event in events
        if webhook.wants(event.event) and _news_to(webhook, event, start=starts[webhook.pk])
    ]
    if not offered:
        return 0
    # What the overlap and the open cycles offer again is held already: not built again.
    held = _held(webhooks=webhooks, keys={event.key for _, event in offered})
    created_at = timezone.now()
    return _inserted(
        deliveries=[
            WebhookDelivery(
                webhook=webhook,
                event=event.event,
                event_key=event.key,
                payload=_payload(webhook=webhook, event=event),
                next_attempt_at=now,
                created_at=created_at,
            )
            for webhook, event in offered
            if (webhook.pk, event.key) not in held
        ]
    )


def _news_to(webhook: Webhook, event: PendingEvent, *, start: datetime) -> bool:
    """Whether the event is news to this webhook: it became news in the webhook's window
    (which starts when the webhook was created, or later), or, for a cycle's event, it
    happened after the webhook was created. A finding first seen before the webhook that
    comes back after it is news from when it came back, though it is dated when first seen."""
    if event.news_at is None:
        return event.happened_at >= webhook.created_at
    return event.news_at >= start


def _batch(*, parameters_each: int, besides: int = 0) -> int:
    """How many rows or keys one statement takes, each with ``parameters_each`` parameters
    beside ``besides`` others."""
    limit = connection.features.max_query_params
    if limit is None:
        return BATCH
    return max(1, min(BATCH, (limit - besides) // parameters_each))


def _held(*, webhooks: list[Webhook], keys: set[str]) -> set[tuple[int, str]]:
    """The (webhook, event key) pairs among these that a delivery holds, read in batches."""
    ordered = sorted(keys)
    size = _batch(parameters_each=1, besides=len(webhooks))
    held: set[tuple[int, str]] = set()
    for at in range(0, len(ordered), size):
        held.update(
            WebhookDelivery.objects.filter(
                webhook__in=webhooks, event_key__in=ordered[at : at + size]
            ).values_list("webhook_id", "event_key")
        )
    return held


def _inserted(*, deliveries: list[WebhookDelivery]) -> int:
    """Insert the deliveries but any that a run at the same time inserted first (ON CONFLICT
    DO NOTHING); how many went in (RETURNING, no count of the table)."""
    if not deliveries:
        return 0
    names = ["webhook", "event", "event_key", "payload", "status", "attempts"]
    names += ["next_attempt_at", "last_error", "created_at"]
    fields = [WebhookDelivery._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    inserted = 0
    size = _batch(parameters_each=len(fields))
    with connection.cursor() as cursor:
        for at in range(0, len(deliveries), size):
            batch = deliveries[at : at + size]
            cursor.execute(
                f"INSERT INTO {quote(WebhookDelivery._meta.db_table)} ({columns})"  # noqa: S608
                f" VALUES {', '.join([row] * len(batch))}"
                f" ON CONFLICT ({quote('webhook_id')}, {quote('event_key')}) DO NOTHING"
                f" RETURNING {quote('id')}",
                [
                    field.get_db_prep_save(getattr(delivery, field.attname), connection)
                    for delivery in batch
                    for field in fields
                ],
            )
            inserted += len(cursor.fetchall())
    return inserted


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


def _destination(url: str) -> tuple[Destination | None, str]:
    r"""The URL's destination, or why it has none. A URL is refused unless every reading of it
    agrees: a backslash, a space or a control character, user:password@, or anything urllib3
    would rewrite (it reads `http://127.0.0.1:80\@hooks.example.com/` as 127.0.0.1 where
    urlsplit reads hooks.example.com) is turned away rather than guessed at."""
    if "\\" in url or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return None, "the URL holds a backslash, a space or a control character"
    try:
        parts = parse_url(url)
        split = urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError):
        return None, "the URL cannot be read"
    if parts.scheme not in ("http", "https") or not parts.host:
        return None, "only http:// and https:// URLs are delivered to"
    if parts.auth is not None:
        return None, "a user:password@ in the URL is not sent; put a token in the path or query"
    if parts.url != url:
        return None, f"the URL is not written as it is read; write it as {parts.url}"
    host = parts.host[1:-1] if parts.host.startswith("[") else parts.host
    if (split.scheme, split.hostname, split_port) != (parts.scheme, host.lower(), parts.port):
        return None, "the URL reads differently to different parsers"
    port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    if not 0 < port < 65536:
        return None, "the URL's port is not one that can be connected to"
    return Destination(parts.scheme, host, port, parts.netloc, parts.request_uri), ""


def url_problem(*, url: str) -> str:
    """Why a webhook URL can never be delivered to ("" when it can), from its text alone:
    checked when the webhook is saved, and again at each attempt."""
    return _destination(url)[1]


class LookupFailed(DeliveryFailed):
    """The name did not resolve: nothing is sent, and the attempt is tried again later."""


class Refused(Exception):
    """A URL that may never be delivered to: the delivery fails at once, saying why."""


# IPv6 ranges that carry an IPv4 address in their low 32 bits (NAT64, its local-use range,
# IPv4-compatible, SIIT): on a DNS64/NAT64 network (an AWS NAT gateway) 64:ff9b::a00:7 is
# 10.0.0.7. Python's is_global has called some of them global.
_EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)
_NEVER_PUBLIC = (ipaddress.ip_network("fec0::/10"),)  # site-local, deprecated


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global address, and for IPv6 one whose embedded IPv4 address (mapped, 6to4, Teredo,
    NAT64 and the like) is global too."""
    if not ip.is_global:
        return False
    if ip.version == 4:
        return True
    if any(ip in network for network in _NEVER_PUBLIC):
        return False
    embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if any(ip in network for network in _EMBEDDING_IPV4):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(inner.is_global for inner in embedded if inner is not None)


def _checked_addresses(destination: Destination) -> list[tuple]:
    """The addresses to connect to, resolved once: the connection goes to one of these, so
    the name cannot answer differently in between (DNS rebinding). Unless
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES, a name with any non-public address is refused whole.
    (Checked through a proxy too, though the proxy then resolves the name itself.)"""
    try:
        found = socket.getaddrinfo(
            destination.host, destination.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise LookupFailed(f"DNS: {destination.host} did not resolve ({reason})") from exc
    if not found:
        raise LookupFailed(f"DNS: {destination.host} did not resolve")
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        for *_, address in found:
            ip = ipaddress.ip_address(address[0].split("%", 1)[0])
            if not _public(ip):
                raise Refused(
                    f"{destination.host} resolves to {ip}, a non-public address "
                    "(set WEBHOOK_ALLOW_PRIVATE_ADDRESSES to deliver inside your network)"
                )
    return found


def _sent(*, url: str, body: bytes, headers: dict) -> Answer:
    """One POST to the webhook's URL, checked first: raises Refused, or DeliveryFailed."""
    destination, problem = _destination(url)
    if destination is None:
        raise Refused(problem)
    try:
        found = _checked_addresses(destination)
    except LookupFailed:
        if proxy_for(destination=destination) is None:
            raise
        # Where only the egress proxy resolves outside names, it is left to resolve this one
        # (and to refuse internal addresses, as it must for any name: it resolves them again).
        found = []
    return post(
        destination=destination,
        addresses=list(dict.fromkeys(address[0] for *_, address in found)),
        body=body,
        headers=headers,
        trust=trust_store(extra_bundle=settings.WEBHOOK_CA_BUNDLE),
        seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
    )


def _answer_described(answer: Answer) -> str:
    """What a failed answer said, without its body (a receiver inside the network may answer
    with what it holds): the status, the media type and the announced length."""
    media_type = answer.content_type.split(";", 1)[0].strip()[:100]
    described = f"HTTP {answer.status}"
    details = [
        media_type if media_type.isprintable() else "",
        f"{answer.content_length} bytes" if answer.content_length.isdigit() else "",
    ]
    if details := [detail for detail in details if detail]:
        described += f" ({', '.join(details)})"
    return described


def _body(delivery: WebhookDelivery) -> bytes:
    """The bytes signed and sent. A JSON body carries its delivery id and event key, which a
    receiver deduplicates on: inside the signature, so a replay cannot change them. (A Slack
    body stays {"text": ...}, all an incoming webhook is documented to take.)"""
    payload = delivery.payload
    if delivery.webhook.format == Webhook.Format.JSON:
        payload = {**payload, "delivery_id": delivery.pk, "event_key": delivery.event_key}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def deliver(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """One attempt, if one is due (claim_delivery). Success (2xx) ends it; otherwise the next
    attempt waits longer, and after WEBHOOK_MAX_ATTEMPTS the delivery is failed. A refused URL
    (url_problem, or a host with a non-public address) fails it at once; a name that does not
    resolve is an attempt that failed. Safe to call any number of times, at once or in a row:
    each due attempt goes once."""
    claimed = claim_delivery(delivery_id=delivery_id, now=now or timezone.now())
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    if not claimed:
        return delivery
    webhook = delivery.webhook
    body = _body(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "iamreview-webhooks",
        "X-IAMReview-Event": delivery.event,
        "X-IAMReview-Delivery": str(delivery.pk),
        "X-IAMReview-Timestamp": str(timestamp),
        "X-IAMReview-Signature": signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    delivery.last_status_code = None
    ok = False
    try:
        answer = _sent(url=webhook.url, body=body, headers=headers)
    except Refused as exc:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.last_error = f"Refused: {exc}."[:500]
        delivery.save(update_fields=["status", "last_status_code", "last_error"])
        return delivery
    except DeliveryFailed as exc:
        delivery.last_error = str(exc)[:500]
    else:
        delivery.last_status_code = answer.status
        ok = 200 <= answer.status < 300
        delivery.last_error = "" if ok else _answer_described(answer)[:500]
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
