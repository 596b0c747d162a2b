"""Webhooks: signed JSON (or Slack text) for each event, once, to a real HTTP receiver on
127.0.0.1, with retries that wait longer each time and a delivery log in the admin."""

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.models import Finding, FindingEvent, Webhook, WebhookDelivery
from findings.notifications import tasks
from findings.notifications.tasks import send_webhooks
from findings.notifications.webhooks import (
    DELIVERY_LEASE,
    backoff,
    claim_delivery,
    deliver,
    queue_webhook_events,
)
from findings.reviews.services import DecisionInput, decide_item
from tests.findings.notifications.test_digests import make_cycle
from tests.findings.reviews.test_evidence import make_account, make_finding

pytestmark = pytest.mark.django_db

SECRET = "whsec-ticketing-0123456789"


class Receiver:
    """A real HTTP server in a thread. It answers with the statuses it is told, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/iamreview"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def ticketing(receiver):
    webhook = Webhook.objects.create(name="Ticketing", url=receiver.url, secret=SECRET)
    Webhook.objects.filter(pk=webhook.pk).update(created_at=timezone.now() - timedelta(hours=1))
    webhook.refresh_from_db()
    return webhook


@pytest.fixture
def production(db):
    return make_account()


def verified(request: dict) -> dict:
    """What a receiver does: recompute the signature over timestamp + body, then parse."""
    headers = request["headers"]
    timestamp = headers["X-IAMReview-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["X-IAMReview-Signature"], f"sha256={expected}")
    assert abs(time.time() - int(timestamp)) < 60
    return json.loads(request["body"])


def test_a_new_critical_finding_reaches_the_receiver_signed_and_only_once(
    receiver, ticketing, production, django_assert_max_num_queries
):
    finding = make_finding(
        production, "root-access-key", "arn:aws:iam::111122223333:root", severity="critical"
    )
    make_finding(production, "password-unused", "arn:aws:iam::111122223333:user/bo")
    send_webhooks()
    send_webhooks()  # Idempotent: nothing new the second time.

    (request,) = receiver.requests
    payload = verified(request)
    assert request["headers"]["X-IAMReview-Event"] == "finding.critical"
    assert payload["event"] == "finding.critical"
    assert payload["data"]["finding_id"] == finding.pk
    assert payload["data"]["account_id"] == production.account_id
    assert payload["data"]["came_back_at"] is None
    assert payload["summary"].startswith("New critical finding in 111122223333")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    with django_assert_max_num_queries(9):
        queue_webhook_events()


def test_a_tampered_body_does_not_verify(receiver, ticketing, production):
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    send_webhooks()
    (request,) = receiver.requests
    with pytest.raises(AssertionError):
        verified({**request, "body": request["body"].replace(b"critical", b"low")})


def test_a_failing_receiver_is_retried_with_growing_pauses_until_it_answers(
    receiver, ticketing, production
):
    receiver.statuses = [503, 500]
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    send_webhooks()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert "HTTP 503" in delivery.last_error
    first_pause = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=25) < first_pause <= timedelta(seconds=30)

    send_webhooks()  # Not due yet: nothing is sent.
    assert len(receiver.requests) == 1

    later = delivery.next_attempt_at + timedelta(seconds=1)
    delivery = deliver(delivery_id=delivery.pk, now=later)
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert delivery.next_attempt_at - later == backoff(attempts=2) == timedelta(minutes=1)
    assert deliver(delivery_id=delivery.pk, now=later).attempts == 2  # Waits its minute.
    delivery = deliver(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
    assert len(receiver.requests) == 3
    assert backoff(attempts=20) == timedelta(hours=1)


def test_after_the_last_attempt_a_delivery_is_failed_and_kept_in_the_log(
    settings, receiver, ticketing, production
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 500, 500]
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    delivery = deliver(delivery_id=WebhookDelivery.objects.get().pk)
    delivery = deliver(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    # A failed one is never sent again.
    assert deliver(delivery_id=delivery.pk, now=timezone.now() + timedelta(days=1)).attempts == 2
    assert len(receiver.requests) == 2


def test_tasks_piled_up_for_one_delivery_post_it_once_and_keep_its_back_off(
    receiver, ticketing, production, monkeypatch
):
    # Workers busy with long collections: each beat tick queues the pending delivery again.
    receiver.statuses = [503]
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queued = []
    monkeypatch.setattr(tasks.deliver_webhook, "delay", queued.append)
    for _ in range(3):
        send_webhooks()
    delivery = WebhookDelivery.objects.get()
    assert queued == [delivery.pk] * 3

    for delivery_id in queued:  # A worker gets to them, one after the other.
        tasks.deliver_webhook.apply(args=[delivery_id])

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert delivery.next_attempt_at - timezone.now() > timedelta(seconds=25)
    queued.clear()
    send_webhooks()
    assert queued == []  # Not due again before its pause is over.


def test_workers_racing_for_a_due_delivery_post_it_once(committed_db, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    receiver = Receiver()
    try:
        webhook = Webhook.objects.create(name="Ticketing", url=receiver.url, secret=SECRET)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook,
            event="finding.critical",
            event_key="finding:1",
            payload={"event": "finding.critical"},
            next_attempt_at=timezone.now(),
        )
        start = threading.Barrier(6)

        def worker():
            try:
                start.wait()
                deliver(delivery_id=delivery.pk)
            finally:
                connection.close()

        workers = [threading.Thread(target=worker) for _ in range(6)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    finally:
        receiver.close()

    assert len(receiver.requests) == 1  # Five lost the claim and sent nothing.
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


def test_an_attempt_whose_worker_died_is_due_again_once_its_lease_ends(
    receiver, ticketing, production
):
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert claim_delivery(delivery_id=delivery.pk, now=now)  # ... and the worker is killed.

    send_webhooks()
    assert receiver.requests == []  # Claimed: not due, not sent by anyone else meanwhile.
    delivery = deliver(delivery_id=delivery.pk, now=now + DELIVERY_LEASE - timedelta(seconds=1))
    assert receiver.requests == [] and delivery.status == "pending"

    delivery = deliver(delivery_id=delivery.pk, now=now + DELIVERY_LEASE)
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_a_last_attempt_that_never_finished_fails_the_delivery(
    settings, receiver, ticketing, production
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    delivery = WebhookDelivery.objects.get()
    long_ago = timezone.now() - 3 * DELIVERY_LEASE
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1, next_attempt_at=long_ago)
    assert claim_delivery(delivery_id=delivery.pk, now=long_ago)  # Its worker died.

    send_webhooks()

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert "never finished" in delivery.last_error


def test_an_unreachable_receiver_is_recorded_not_raised(ticketing, production):
    Webhook.objects.filter(pk=ticketing.pk).update(url="http://127.0.0.1:9/nothing-listens")
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    delivery = deliver(delivery_id=WebhookDelivery.objects.get().pk)
    assert delivery.status == "pending" and "ConnectionError" in delivery.last_error


def test_cycles_ready_to_sign_and_overdue_and_remediation_decisions_are_events(
    receiver, ticketing, production, reviewer
):
    # Older than the overdue cycle's lateness: a webhook hears only of what came after it.
    Webhook.objects.filter(pk=ticketing.pk).update(created_at=timezone.now() - timedelta(days=3))
    make_cycle(production, "Q4 credentials", due_in=5, decided=True)
    make_cycle(production, "Q3 credentials", due_in=-2)
    pending = make_cycle(production, "Release 2.15", due_in=3)
    item = pending.items.get()
    decide_item(
        item=item,
        actor=reviewer,
        decision=DecisionInput(kind="remediate", justification="Remove the unused key"),
        expected_latest_id=None,
    )
    send_webhooks()
    by_event = {verified(r)["event"]: verified(r) for r in receiver.requests}
    assert set(by_event) == {"cycle.ready_to_sign", "cycle.overdue", "decision.remediate"}
    assert by_event["cycle.overdue"]["data"]["title"] == "Q3 credentials"
    remediation = by_event["decision.remediate"]["data"]
    assert remediation["subject_arn"] == item.subject_arn
    assert remediation["decided_by"] == reviewer.email
    assert remediation["justification"] == "Remove the unused key"


def test_a_slack_webhook_gets_text_and_a_webhook_hears_only_its_events(receiver, production):
    Webhook.objects.create(
        name="Slack", url=receiver.url, secret=SECRET, format="slack", events=["cycle.overdue"]
    )
    # Created before the cycle went overdue (at the start of the day after its due date).
    Webhook.objects.update(created_at=timezone.now() - timedelta(days=3))
    make_cycle(production, "Q3 credentials", due_in=-2)
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    send_webhooks()
    (request,) = receiver.requests
    text = verified(request)["text"]
    assert text.startswith("Review cycle overdue since") and "Q3 credentials" in text
    assert "|Open in iamreview>" in text


def test_a_new_webhook_hears_nothing_of_what_happened_before_it(receiver, production):
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    Webhook.objects.create(name="Late", url=receiver.url, secret=SECRET)
    send_webhooks()
    assert receiver.requests == []


# --- Each minute looks at what is new -----------------------------------------------------------


def critical(production, name: str, *, first_seen_at=None, **fields) -> Finding:
    finding = make_finding(
        production,
        "root-access-key",
        f"arn:aws:iam::111122223333:user/{name}",
        severity="critical",
        **fields,
    )
    if first_seen_at is not None:
        Finding.objects.filter(pk=finding.pk).update(first_seen_at=first_seen_at)
    return finding


def inserts_of_deliveries(queries) -> list[str]:
    return [
        q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "findings_webhookdelivery"')
    ]


def test_a_run_with_nothing_new_does_not_rebuild_and_reinsert_every_past_event(
    receiver, ticketing, production
):
    """Each minute rebuilt every event since the first webhook was created and inserted them
    all again (ON CONFLICT DO NOTHING), for as long as the webhook existed."""
    for n in range(30):  # thirty critical findings over the webhook's first hour
        critical(production, f"u{n}")
    send_webhooks()
    assert WebhookDelivery.objects.filter(status="delivered").count() == 30

    # The next minute (its window reaches back over them) and, much later, a quiet minute.
    for later in (timedelta(minutes=1), timedelta(days=200)):
        with CaptureQueriesContext(connection) as queries:
            assert queue_webhook_events(now=timezone.now() + later) == 0
        assert not inserts_of_deliveries(queries), later


def test_an_event_dated_before_the_last_run_but_committed_after_it_is_still_queued(
    receiver, ticketing, production
):
    """A detection dates what it finds when it starts and commits it when it ends: the window
    reaches back before the last run (news_overlap), so nothing falls between two runs."""
    assert queue_webhook_events() == 0  # while a detection that began 20 minutes ago runs
    finding = critical(production, "late", first_seen_at=timezone.now() - timedelta(minutes=20))

    assert queue_webhook_events(now=timezone.now() + timedelta(minutes=1)) == 1
    assert WebhookDelivery.objects.get().event_key == f"finding:{finding.pk}"


# How a finding was kept from the webhooks before it came back into view as open and critical.
BEFORE_IT_CAME_BACK = {
    "included": {"status": Finding.Status.EXCLUDED},
    "changed": {"severity": "high", "severity_rank": 1},
    "reopened": {"status": Finding.Status.RESOLVED},
}


def comes_back(finding: Finding, how: str, *, at) -> None:
    """What a detection at ``at`` does to a finding that becomes open and critical again: its
    exclusion ended, its severity raised, or reopened."""
    Finding.objects.filter(pk=finding.pk).update(
        status=Finding.Status.OPEN, severity="critical", severity_rank=0, resolved_at=None
    )
    FindingEvent.objects.create(finding=finding, kind=how, at=at)


def back_key(finding: Finding, at) -> str:
    return f"finding:{finding.pk}:back:{at.astimezone(UTC).isoformat(timespec='microseconds')}"


@pytest.mark.parametrize("how", ["included", "changed", "reopened"])
@pytest.mark.parametrize("first_seen", ["before the webhook", "in its first hour"])
def test_a_finding_that_becomes_open_and_critical_long_after_it_was_first_seen_is_queued_once(
    receiver, ticketing, production, how, first_seen
):
    """Excluded, high or resolved when first seen: its coming back (the exclusion ended, the
    severity raised, reopened) is when it is news, even when it was first seen before the
    webhook was created (and dated then); and it is queued once, whatever the later minutes
    whose window reaches back over it."""
    ago = timedelta(days=10) if first_seen == "before the webhook" else timedelta()
    finding = critical(production, "kept-aside", first_seen_at=timezone.now() - ago)
    Finding.objects.filter(pk=finding.pk).update(**BEFORE_IT_CAME_BACK[how])
    finding.refresh_from_db()
    assert queue_webhook_events() == 0

    a_day_later = timezone.now() + timedelta(days=1)
    comes_back(finding, how, at=a_day_later)

    assert queue_webhook_events(now=a_day_later + timedelta(minutes=1)) == 1
    for minutes in (2, 3, 90):
        assert queue_webhook_events(now=a_day_later + timedelta(minutes=minutes)) == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_key == back_key(finding, a_day_later)
    assert delivery.payload["occurred_at"] == finding.first_seen_at.isoformat()
    assert delivery.payload["data"]["came_back_at"] == a_day_later.isoformat()
    assert delivery.payload["summary"].startswith("Critical finding back in")


def test_a_finding_fixed_and_back_again_is_news_each_time_it_comes_back(
    receiver, ticketing, production
):
    """Each coming back is a regression a ticketing system wants to hear of: keyed by when it
    came back, it is queued once each time, however close together (within the overlap)."""
    finding = critical(production, "flapping")
    assert queue_webhook_events() == 1  # first seen

    start = timezone.now()
    for hours in (1, 2):
        fixed_at = start + timedelta(hours=hours, minutes=-30)
        Finding.objects.filter(pk=finding.pk).update(
            status=Finding.Status.RESOLVED, resolved_at=fixed_at
        )
        FindingEvent.objects.create(finding=finding, kind="resolved", at=fixed_at)
        assert queue_webhook_events(now=fixed_at + timedelta(minutes=1)) == 0
        back_at = start + timedelta(hours=hours)
        comes_back(finding, "reopened", at=back_at)
        assert queue_webhook_events(now=back_at + timedelta(minutes=1)) == 1
        assert queue_webhook_events(now=back_at + timedelta(minutes=2)) == 0

    assert sorted(WebhookDelivery.objects.values_list("event_key", flat=True)) == [
        f"finding:{finding.pk}",
        back_key(finding, start + timedelta(hours=1)),
        back_key(finding, start + timedelta(hours=2)),
    ]


def test_the_first_run_over_a_long_history_stays_within_sqlites_limit_of_parameters(
    receiver, production, monkeypatch
):
    """The first run after the upgrade reads all that happened since each webhook was created:
    the findings that came back were looked up, and the deliveries held, with a list of ids
    and keys, more of them than SQLite takes in one statement (999, as Django counts it).
    Every statement keeps within the backend's limit (here SQLite's), whatever the history."""
    monkeypatch.setattr(connection.features, "max_query_params", 999)
    now = timezone.now()
    webhook = Webhook.objects.create(name="Ticketing", url=receiver.url, secret=SECRET)
    Webhook.objects.filter(pk=webhook.pk).update(created_at=now - timedelta(days=200))
    findings = Finding.objects.bulk_create(
        Finding(
            account=production,
            check_id="root-access-key",
            resource_key=f"arn:aws:iam::111122223333:user/u{n}",
            resource_arn=f"arn:aws:iam::111122223333:user/u{n}",
            resource_type="user",
            resource_name=f"u{n}",
            title="Root access key",
            severity="critical",
            severity_rank=0,
            severity_reason="Because the test says so",
            evidence_fingerprint="x",
            rule_version="test",
            first_seen_at=now - timedelta(days=300),
            last_seen_at=now,
        )
        for n in range(1_100)
    )
    # Each reopened an hour ago: in the first run's window, and in the next minute's.
    FindingEvent.objects.bulk_create(
        FindingEvent(finding=finding, kind="reopened", at=now - timedelta(hours=1))
        for finding in findings
    )
    parameters: list[int] = []

    def counted(execute, sql, params, many, context):
        parameters.append(len(params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        assert queue_webhook_events(now=now) == 1_100
        assert queue_webhook_events(now=now + timedelta(minutes=1)) == 0
    assert max(parameters) <= 999
    assert WebhookDelivery.objects.values("event_key").distinct().count() == 1_100


def test_a_webhook_switched_back_on_hears_from_a_little_before_then_not_all_it_missed(
    receiver, ticketing, production
):
    """Its window starts where the runs left it, which kept going while it was off, less the
    overlap: what was news in those last hours, and what happens from then."""
    assert queue_webhook_events() == 0
    Webhook.objects.filter(pk=ticketing.pk).update(is_active=False)
    missed = critical(production, "while-off")
    two_days_later = timezone.now() + timedelta(days=2)
    lately = critical(production, "lately", first_seen_at=two_days_later - timedelta(hours=1))
    assert queue_webhook_events(now=two_days_later) == 0  # the minutes go on meanwhile

    Webhook.objects.filter(pk=ticketing.pk).update(is_active=True)
    news = critical(production, "back-on", first_seen_at=two_days_later + timedelta(seconds=30))
    assert queue_webhook_events(now=two_days_later + timedelta(minutes=1)) == 2
    heard = set(WebhookDelivery.objects.values_list("event_key", flat=True))
    assert heard == {f"finding:{lately.pk}", f"finding:{news.pk}"}
    assert f"finding:{missed.pk}" not in heard


def test_two_runs_at_once_queue_each_event_once_and_count_it_once(receiver, ticketing, production):
    """The count was the table's rows after less before: a run inserting at the same time was
    counted by both."""
    critical(production, "once")
    other_run: dict = {}

    def the_other_run_inserts_first(execute, sql, params, many, context):
        if "queued" not in other_run and sql.startswith('INSERT INTO "findings_webhookdelivery"'):
            other_run["queued"] = None  # its own INSERT passes straight through
            other_run["queued"] = queue_webhook_events()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(the_other_run_inserts_first):
        queued = queue_webhook_events()

    assert (other_run["queued"], queued) == (1, 0)
    assert WebhookDelivery.objects.count() == 1


def test_an_administrator_adds_a_webhook_in_the_admin_and_it_is_audited(
    client, administrator, reviewer, receiver
):
    from findings.models import AuditEntry

    client.force_login(administrator)
    response = client.post(
        "/admin/findings/webhook/add/",
        {
            "name": "Jira",
            "url": receiver.url,
            "secret": SECRET,
            "format": "json",
            "events": ["decision.remediate"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="webhook.created")
    assert entry.after["events"] == ["decision.remediate"] and SECRET not in str(entry.after)
    assert client.get("/admin/findings/webhookdelivery/").status_code == 200
    client.force_login(reviewer)
    assert client.get("/admin/findings/webhook/").status_code == 302


def test_deleting_selected_webhooks_in_the_admin_audits_each(client, administrator, receiver):
    """ "Delete selected" deleted them with no webhook.deleted entry (only the one-by-one delete
    was audited)."""
    from findings.models import AuditEntry, Webhook

    hooks = [
        Webhook.objects.create(name=f"hook {n}", url=receiver.url, secret=SECRET, format="json")
        for n in range(2)
    ]
    client.force_login(administrator)

    response = client.post(
        "/admin/findings/webhook/",
        {
            "action": "delete_selected",
            "_selected_action": [h.pk for h in hooks],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert not Webhook.objects.exists()
    deleted = AuditEntry.objects.filter(action="webhook.deleted").order_by("target_label")
    assert [e.target_label for e in deleted] == ["hook 0", "hook 1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.7/hooks",
        "http://[::1]/hooks",
        "ftp://hooks.example.com/x",
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused_without_a_request(settings, production, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    webhook = Webhook.objects.create(name="Inside", url=url, secret=SECRET)
    Webhook.objects.filter(pk=webhook.pk).update(created_at=timezone.now() - timedelta(hours=1))
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()

    delivery = deliver(delivery_id=WebhookDelivery.objects.get().pk)

    assert delivery.status == "failed" and delivery.last_status_code is None
    assert delivery.last_error.startswith("Refused:")


def test_a_delivery_of_a_webhook_switched_off_after_it_was_queued_is_not_sent(
    receiver, ticketing, production
):
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    queue_webhook_events()
    delivery = WebhookDelivery.objects.get()
    type(ticketing).objects.filter(pk=ticketing.pk).update(is_active=False)

    assert not claim_delivery(delivery_id=delivery.pk, now=timezone.now())
    deliver(delivery_id=delivery.pk, now=timezone.now())
    assert receiver.requests == []
