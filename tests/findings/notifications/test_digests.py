"""Email digests: each role hears what concerns it, on the schedule each person chose."""

import io
import logging
import re
import socket
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message

import boto3
import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from accounts.models import DigestPreference, LinkedIdentity
from accounts.permissions import Role
from findings.models import (
    AuditEntry,
    CollectionRun,
    Decision,
    Finding,
    FindingEvent,
    ReviewCycle,
    ReviewItem,
    SentReminder,
)
from findings.notifications.digests import (
    NEW_FINDINGS_LIMIT,
    TOLD_KEPT,
    digest_for,
    is_due,
    send_due_digests,
)
from findings.reviews.services import decide_item
from tests.conftest import make_person
from tests.findings.reviews.test_evidence import keep, make_account, make_finding

pytestmark = pytest.mark.django_db

SITE = "https://iamreview.example.com"
UTC = timezone.get_fixed_timezone(0)
MONDAY_8AM = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MONDAY_6AM = MONDAY_8AM.replace(hour=6)
TUESDAY_8AM = MONDAY_8AM + timedelta(days=1)


@pytest.fixture(autouse=True)
def digest_settings(settings):
    settings.SITE_URL = SITE
    settings.DIGEST_HOUR = 7
    settings.TIME_ZONE = "UTC"
    settings.DEFAULT_FROM_EMAIL = "iamreview <iamreview@example.com>"
    return settings


@pytest.fixture
def production(db):
    return make_account()


# --- Builders -------------------------------------------------------------------------------------


def make_cycle(
    account, title: str, *, due_in: int, items: int = 1, assignee=None, decided=False, arns=()
):
    """A cycle due in `due_in` days (negative: overdue) with `items` items about IAM users."""
    cycle = ReviewCycle.objects.create(
        kind=ReviewCycle.Kind.QUARTERLY,
        title=title,
        opened_at=timezone.now(),
        due_on=timezone.localdate() + timedelta(days=due_in),
        population_hash="x",
        population_count=items,
    )
    slug = re.sub(r"\W+", "-", title.lower())
    arns = list(arns) or [
        f"arn:aws:iam::{account.account_id}:user/{slug}-{n}" for n in range(items)
    ]
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                cycle=cycle,
                account=account,
                subject_type=ReviewItem.SubjectType.USER,
                subject_arn=arn,
                subject_key=arn,
                title=f"{title}: user {n}",
                severity="high",
                severity_rank=1,
                frozen_evidence={},
                evidence_hash="x",
                assignee=assignee,
                is_decided=decided,
            )
            for n, arn in enumerate(arns)
        ]
    )
    return cycle


def failed_run(account, source: str, *, error="Access denied"):
    return CollectionRun.objects.create(
        account=account,
        source=source,
        trigger=CollectionRun.Trigger.SCHEDULE,
        status=CollectionRun.Status.FAILED,
        error=error,
        finished_at=timezone.now(),
    )


def prefer(user, frequency: str, last_sent_at=None) -> DigestPreference:
    preference, _ = DigestPreference.objects.update_or_create(
        user=user, defaults={"frequency": frequency, "last_sent_at": last_sent_at}
    )
    return preference


def last_sent(user):
    return DigestPreference.objects.get(user=user).last_sent_at


def dated(finding, at) -> Finding:
    """First seen `at` (when the detection that found it started)."""
    Finding.objects.filter(pk=finding.pk).update(first_seen_at=at, last_seen_at=at)
    return finding


ROOT = "arn:aws:iam::111122223333:root"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/admin"


def html_of(message) -> str:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return html


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collecting:
    """An aiosmtpd handler: keeps what it accepts, answers 550 for the refused addresses."""

    def __init__(self, refused=()):
        self.refused = {address.lower() for address in refused}
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1, and Django's SMTP backend pointed at it."""
    started = []

    def start(*, refused=()):
        handler = Collecting(refused)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 10
        return handler

    yield start
    for controller in started:
        controller.stop()


# --- What each role hears -------------------------------------------------------------------------


def test_a_reviewer_hears_about_their_undecided_items_by_cycle_overdue_first(
    production, reviewer, second_reviewer
):
    make_cycle(production, "Monthly 2026-11", due_in=5, items=2, assignee=reviewer)
    make_cycle(production, "Quarterly 2026-Q4", due_in=-3, items=1, assignee=reviewer)
    make_cycle(production, "Already decided", due_in=5, items=4, assignee=reviewer, decided=True)
    make_cycle(production, "Someone else's", due_in=5, items=3, assignee=second_reviewer)
    make_cycle(production, "Nobody's yet", due_in=5, items=2)

    digest = digest_for(user=reviewer, now=timezone.now())

    assert [(c.title, c.count, c.overdue) for c in digest.assigned] == [
        ("Quarterly 2026-Q4", 1, True),
        ("Monthly 2026-11", 2, False),
    ]
    assert digest.assigned_count == 3 and digest.assigned_overdue == 1
    assert digest.unassigned == 2
    assert digest.awaiting_sign_off == [] and digest.overdue_cycles == [] and digest.failures == []
    assert digest.headline == ["3 items assigned to you (1 overdue)"]


def test_a_reviewer_with_nothing_assigned_still_hears_of_unassigned_work(production, reviewer):
    make_cycle(production, "Monthly 2026-11", due_in=5, items=4)
    digest = digest_for(user=reviewer, now=timezone.now())
    assert digest.assigned == [] and digest.unassigned == 4
    assert digest.headline == ["4 unassigned items in open cycles"]


@pytest.mark.parametrize("how", ["revoke_role", "deactivate_user"])
def test_the_items_of_a_reviewer_who_left_are_unassigned_work_for_the_others(
    production, reviewer, second_reviewer, how
):
    """They stayed assigned to someone who may not decide them, counted as nobody's
    unassigned work, and no one heard of them until the cycle was overdue."""
    make_cycle(production, "Quarterly", due_in=10, items=3, assignee=reviewer)
    args = [reviewer.email, "reviewer"] if how == "revoke_role" else [reviewer.email]
    call_command(how, *args, stdout=io.StringIO())

    digest = digest_for(user=second_reviewer, now=MONDAY_8AM)

    assert digest is not None and digest.unassigned == 3
    assert digest.headline == ["3 unassigned items in open cycles"]


def test_an_approver_hears_of_cycles_to_sign_off_except_where_segregation_of_duties_forbids(
    production, approver, reviewer
):
    both = make_person("bea.both@example.com", Role.REVIEWER, Role.APPROVER)
    theirs = make_cycle(production, "Decided by Bea", due_in=5, items=1)
    decide_item(item=theirs.items.get(), actor=both, decision=keep(), expected_latest_id=None)
    make_cycle(production, "Ready", due_in=5, items=2, decided=True)
    make_cycle(production, "Ready and late", due_in=-2, items=1, decided=True)
    own_arn = "arn:aws:iam::111122223333:user/paula"
    make_cycle(production, "About Paula", due_in=5, arns=[own_arn], decided=True)
    LinkedIdentity.objects.create(user=approver, arn=own_arn)
    make_cycle(production, "Still in review, late", due_in=-1, items=2, assignee=reviewer)
    make_cycle(production, "Still in review", due_in=3, items=2)
    make_cycle(production, "Signed off", due_in=-9, items=1, decided=True)
    ReviewCycle.objects.filter(title="Signed off").update(state=ReviewCycle.State.SIGNED_OFF)

    paula = digest_for(user=approver, now=timezone.now())
    assert [(c.title, c.overdue) for c in paula.awaiting_sign_off] == [
        ("Ready and late", True),
        ("Decided by Bea", False),
        ("Ready", False),
    ]
    assert all(c.url.endswith("#sign-off") for c in paula.awaiting_sign_off)
    # Overdue, and not already listed for sign-off.
    assert [(c.title, c.undecided) for c in paula.overdue_cycles] == [("Still in review, late", 2)]
    assert paula.assigned == [] and paula.unassigned == 0 and paula.failures == []

    bea = digest_for(user=both, now=timezone.now())
    assert [c.title for c in bea.awaiting_sign_off] == ["Ready and late", "Ready", "About Paula"]


def test_administrators_and_auditors_hear_of_overdue_cycles_and_failing_collections(
    production, administrator, auditor, reviewer
):
    staging = make_account("444455556666", "Staging")
    make_cycle(production, "Late", due_in=-4, items=1)
    make_cycle(production, "On time", due_in=4, items=1)
    failed_run(
        production, "access-analyzer", error="AccessDenied: access-analyzer:ListFindingsV2\nmore"
    )
    recovered = failed_run(staging, "credential-report")
    CollectionRun.objects.create(
        account=staging,
        source="credential-report",
        trigger="schedule",
        status=CollectionRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        created_at=recovered.created_at + timedelta(minutes=5),
    )

    for person in (administrator, auditor):
        digest = digest_for(user=person, now=timezone.now())
        assert [c.title for c in digest.overdue_cycles] == ["Late"]
        assert [(f.account, f.source, f.error) for f in digest.failures] == [
            (
                str(production),
                "Access Analyzer findings",
                "AccessDenied: access-analyzer:ListFindingsV2",
            )
        ]
        assert digest.failures[0].url == f"{SITE}/collection/accounts/{production.pk}/"
        assert digest.assigned == [] and digest.awaiting_sign_off == []
    # Reviewers hear of their own work, not of collection health.
    assert digest_for(user=reviewer, now=timezone.now()).failures == []


def test_everyone_hears_of_new_critical_and_high_findings_since_their_last_digest(
    production, reviewer, approver, administrator, auditor
):
    def seen(check_id: str, name: str, *, days_ago: float, **kwargs):
        finding = make_finding(production, check_id, f"arn:aws:iam::111122223333:{name}", **kwargs)
        at = timezone.now() - timedelta(days=days_ago)
        Finding.objects.filter(pk=finding.pk).update(first_seen_at=at, last_seen_at=at)

    seen("root-mfa", "root", days_ago=3, severity="critical")
    seen("full-admin", "role/admin", days_ago=0.5, severity="critical")
    seen("inactive-user", "user/bob", days_ago=0.1)
    seen("inactive-user", "user/older-than-a-week", days_ago=8)
    seen("access-key-unused", "user/medium", days_ago=0.1, severity="medium")
    seen("root-recent-use", "root", days_ago=0.1, status="resolved")
    now = timezone.now()

    for person in (reviewer, approver, administrator, auditor):
        never_sent = digest_for(user=person, now=now)
        assert [(f.severity, f.resource_name) for f in never_sent.new_findings] == [
            ("critical", "admin"),
            ("critical", "root"),
            ("high", "bob"),
        ], person
    prefer(reviewer, "daily", last_sent_at=now - timedelta(days=1))
    since_yesterday = digest_for(user=type(reviewer).objects.get(pk=reviewer.pk), now=now)
    assert [f.resource_name for f in since_yesterday.new_findings] == ["admin", "bob"]
    assert since_yesterday.headline == ["2 new high-risk findings"]


def test_new_findings_are_capped_with_a_count_of_the_rest(production, auditor):
    for n in range(NEW_FINDINGS_LIMIT + 5):
        make_finding(production, "inactive-user", f"arn:aws:iam::111122223333:user/u{n}")
    digest = digest_for(user=auditor, now=timezone.now())
    assert len(digest.new_findings) == NEW_FINDINGS_LIMIT and digest.more_findings == 5
    assert digest.new_findings_count == NEW_FINDINGS_LIMIT + 5


def test_what_a_digest_told_is_not_told_again_though_the_next_window_reaches_back(
    production, reviewer, mailoutbox
):
    prefer(reviewer, "daily", last_sent_at=MONDAY_8AM - timedelta(days=1))
    dated(make_finding(production, "root-mfa", ROOT, severity="critical"), MONDAY_8AM)
    assert send_due_digests(now=MONDAY_8AM) == 1
    assert "Root mfa" in mailoutbox[-1].body
    # Times in a digest name their time zone.
    assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3}", mailoutbox[-1].body)
    dated(
        make_finding(production, "full-admin", ADMIN_ROLE, severity="critical"),
        MONDAY_8AM + timedelta(hours=3),
    )

    assert send_due_digests(now=TUESDAY_8AM) == 1

    tuesday = mailoutbox[-1]
    assert tuesday.subject == "iamreview: 1 new high-risk finding"
    assert "Full admin" in tuesday.body and "Root mfa" not in tuesday.body


def test_after_a_burst_the_next_digest_lists_what_the_last_one_only_counted(
    production, reviewer, mailoutbox
):
    # A new account's first detection, just before the digest: more than one email lists.
    prefer(reviewer, "daily", last_sent_at=MONDAY_8AM - timedelta(days=1))
    for n in range(NEW_FINDINGS_LIMIT + 5):
        finding = make_finding(production, "inactive-user", f"arn:aws:iam::111122223333:user/u{n}")
        dated(finding, MONDAY_8AM - timedelta(minutes=10, seconds=n))
    assert send_due_digests(now=MONDAY_8AM) == 1
    listed_monday = set(re.findall(r": (u\d+) ", mailoutbox[-1].body))
    assert "and 5 more" in mailoutbox[-1].body and len(listed_monday) == NEW_FINDINGS_LIMIT

    assert send_due_digests(now=TUESDAY_8AM) == 1

    tuesday = mailoutbox[-1].body
    listed_tuesday = set(re.findall(r": (u\d+) ", tuesday))
    assert len(listed_tuesday) == 5 and not listed_tuesday & listed_monday
    assert "and " not in tuesday.split("NEW HIGH-RISK")[1]


def test_a_finding_whose_detection_commits_after_a_digest_it_predates_is_in_the_next_one(
    committed_db, production, auditor, mailoutbox
):
    """A detection dates its findings when it starts and commits them when it ends: a digest
    in between cannot see them yet, and the next one must still tell of them."""
    prefer(auditor, "daily", last_sent_at=MONDAY_8AM - timedelta(days=1))
    dated(
        make_finding(production, "root-mfa", ROOT, severity="critical"),
        MONDAY_8AM - timedelta(hours=1),
    )
    detecting, digest_sent = threading.Event(), threading.Event()

    def detection():
        try:
            with transaction.atomic():
                found = make_finding(production, "full-admin", ADMIN_ROLE, severity="critical")
                dated(found, MONDAY_8AM - timedelta(minutes=20))
                detecting.set()
                digest_sent.wait(timeout=30)
        finally:
            connection.close()

    worker = threading.Thread(target=detection)
    worker.start()
    try:
        assert detecting.wait(timeout=30)
        assert send_due_digests(now=MONDAY_8AM) == 1
    finally:
        digest_sent.set()
        worker.join()
    (monday,) = mailoutbox
    assert "Root mfa" in monday.body and "Full admin" not in monday.body
    assert Finding.objects.get(check_id="full-admin").first_seen_at < last_sent(auditor)

    assert send_due_digests(now=TUESDAY_8AM) == 1

    tuesday = mailoutbox[-1]
    assert "Full admin" in tuesday.body and "Root mfa" not in tuesday.body
    assert "1 new high-risk finding" in tuesday.subject


def test_a_reopened_critical_finding_is_news_again_and_told_once(production, reviewer, mailoutbox):
    prefer(reviewer, "daily", last_sent_at=MONDAY_8AM - timedelta(days=1))
    finding = make_finding(production, "root-access-key", ROOT, severity="critical")
    dated(finding, MONDAY_8AM - timedelta(days=90))

    def reopened(at):
        FindingEvent.objects.create(finding=finding, kind="resolved", at=at - timedelta(days=9))
        FindingEvent.objects.create(finding=finding, kind="reopened", at=at)
        Finding.objects.filter(pk=finding.pk).update(times_reopened=finding.events.count() // 2)

    reopened(MONDAY_8AM - timedelta(minutes=30))
    assert send_due_digests(now=MONDAY_8AM) == 1
    monday = mailoutbox[-1]
    assert monday.subject == "iamreview: 1 new high-risk finding"
    assert f"Root access key (reopened): root ({production})" in monday.body

    assert send_due_digests(now=TUESDAY_8AM) == 0  # Told on Monday, and nothing else new.

    reopened(TUESDAY_8AM + timedelta(hours=5))  # Fixed, then back again.
    assert send_due_digests(now=TUESDAY_8AM + timedelta(days=1)) == 1
    assert "Root access key (reopened)" in mailoutbox[-1].body
    # Still open but never reopened in the window, or reopened and resolved: not news.
    Finding.objects.filter(pk=finding.pk).update(status="resolved")
    FindingEvent.objects.create(
        finding=finding, kind="reopened", at=TUESDAY_8AM + timedelta(days=1, hours=3)
    )
    assert digest_for(user=reviewer, now=TUESDAY_8AM + timedelta(days=2)) is None


def test_what_was_told_is_forgotten_once_no_window_reaches_it(production, reviewer):
    long_ago = MONDAY_8AM - TOLD_KEPT - timedelta(hours=1)
    SentReminder.objects.bulk_create(
        [
            SentReminder(user=reviewer, key="finding:1:1", sent_at=long_ago),
            SentReminder(user=reviewer, key="finding:2:2", sent_at=MONDAY_8AM - timedelta(days=8)),
            SentReminder(user=reviewer, key="due:1:7", sent_at=long_ago),
        ]
    )
    make_cycle(production, "Mine", due_in=30, items=1, assignee=reviewer)
    assert send_due_digests(now=MONDAY_8AM) == 1
    assert sorted(SentReminder.objects.values_list("key", flat=True)) == ["due:1:7", "finding:2:2"]


def test_nobody_gets_an_empty_email(
    production, reviewer, approver, administrator, auditor, outsider, mailoutbox
):
    make_cycle(production, "On time, all decided by others", due_in=3, items=1, assignee=reviewer)
    ReviewItem.objects.update(is_decided=True)
    Decision.objects.create(
        item=ReviewItem.objects.get(), kind="keep", decided_by=approver, decided_at=timezone.now()
    )
    make_finding(production, "old", "arn:aws:iam::111122223333:user/old", severity="low")
    for person in (reviewer, approver, administrator, auditor, outsider):
        assert digest_for(user=person, now=timezone.now()) is None, person
    assert send_due_digests(now=timezone.now(), force=True) == 0
    assert mailoutbox == []


def test_a_person_without_a_role_or_no_longer_active_gets_no_digest(
    production, reviewer, outsider, mailoutbox
):
    make_cycle(production, "Unassigned", due_in=3, items=2)
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    assert digest_for(user=outsider, now=timezone.now()) is None
    reviewer.is_active = False
    reviewer.save()
    assert send_due_digests(now=timezone.now(), force=True) == 0
    assert mailoutbox == []


def test_one_email_per_person_whatever_their_roles(production, mailoutbox):
    both = make_person("bea.both@example.com", Role.REVIEWER, Role.APPROVER, Role.AUDITOR)
    make_cycle(production, "Mine", due_in=2, items=1, assignee=both)
    make_cycle(production, "Ready", due_in=2, items=1, decided=True)
    make_cycle(production, "Late", due_in=-2, items=1)
    assert send_due_digests(now=timezone.now(), force=True) == 1
    (message,) = mailoutbox
    assert message.to == ["bea.both@example.com"]
    assert message.subject == (
        "iamreview: 1 item assigned to you, 1 cycle to sign off, 1 overdue cycle"
    )
    for section in ("ASSIGNED TO YOU", "UNASSIGNED", "WAITING FOR YOUR SIGN-OFF", "OVERDUE"):
        assert section in message.body


# --- The email itself -------------------------------------------------------------------------


def test_the_email_has_text_and_html_with_absolute_links_only(production, reviewer, mailoutbox):
    cycle = make_cycle(production, "Monthly 2026-11", due_in=5, items=12, assignee=reviewer)
    finding = make_finding(
        production, "full-admin", "arn:aws:iam::111122223333:role/admin", severity="critical"
    )
    send_due_digests(now=timezone.now(), force=True)
    (message,) = mailoutbox
    html = html_of(message)
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link.startswith(f"{SITE}/") for link in links), links
    text_links = re.findall(r"https?://\S+", message.body)
    assert text_links and all(link.startswith(f"{SITE}/") for link in text_links)
    queue = f"{SITE}/review/cycles/{cycle.pk}/?assignee=me&amp;status=undecided"
    assert queue in html
    assert f"{SITE}/findings/{finding.pk}/" in html and f"{SITE}/accounts/profile/" in html
    first_item = cycle.items.order_by("severity_rank", "title", "id").first()
    assert f"{SITE}/review/items/{first_item.pk}/" in message.body
    assert "and 2 more" in message.body and ">2 more</a>" in html
    assert message.from_email == "iamreview <iamreview@example.com>"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    # A mail client's "unsubscribe" opens where the person sets their digest.
    assert message.extra_headers["List-Unsubscribe"] == f"<{SITE}/accounts/profile/#digest-heading>"


def test_names_from_aws_are_escaped_in_html_and_left_as_they_are_in_text(
    production, auditor, mailoutbox
):
    make_finding(
        production,
        "full-admin",
        "arn:aws:iam::111122223333:role/x",
        severity="critical",
        resource_key="k",
    )
    Finding.objects.update(resource_name="<script>alert(1)</script>", title="Admin & more")
    send_due_digests(now=timezone.now(), force=True)
    (message,) = mailoutbox
    html = html_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Admin &amp; more" in html
    assert "<script>alert(1)</script>" in message.body and "Admin & more" in message.body


# --- When digests go ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "last_sent_at", "now", "due"),
    [
        ("off", None, MONDAY_8AM, False),
        ("daily", None, MONDAY_6AM, False),  # before DIGEST_HOUR
        ("daily", None, MONDAY_8AM, True),
        ("daily", MONDAY_8AM - timedelta(hours=1), MONDAY_8AM, False),  # already today
        ("daily", MONDAY_8AM - timedelta(days=1), MONDAY_8AM, True),
        ("daily", MONDAY_8AM - timedelta(days=1), MONDAY_6AM, False),
        ("weekly", MONDAY_8AM - timedelta(days=7), MONDAY_8AM, True),  # Monday
        ("weekly", MONDAY_8AM - timedelta(days=4), MONDAY_8AM, True),  # Thursday's catch-up
        # Sunday's (a newcomer's first, one a reminder brought) stands in for Monday's.
        ("weekly", MONDAY_8AM - timedelta(days=1), MONDAY_8AM, False),
        ("weekly", MONDAY_8AM - timedelta(days=1), MONDAY_8AM + timedelta(days=7), True),
        ("weekly", MONDAY_8AM - timedelta(days=7), MONDAY_6AM, False),
        ("weekly", MONDAY_8AM - timedelta(minutes=30), MONDAY_8AM, False),
        ("weekly", MONDAY_8AM, TUESDAY_8AM, False),
        ("weekly", TUESDAY_8AM - timedelta(days=6), TUESDAY_8AM, False),
        ("weekly", MONDAY_8AM - timedelta(days=8), TUESDAY_8AM, True),  # missed Monday
        ("weekly", None, TUESDAY_8AM, True),  # never had one
    ],
)
def test_when_a_digest_is_due(frequency, last_sent_at, now, due):
    assert is_due(frequency=frequency, last_sent_at=last_sent_at, now=now) is due


def test_the_digest_hour_is_in_local_time(settings):
    settings.TIME_ZONE = "Asia/Tokyo"  # UTC+9: 23:00 UTC on Sunday is 08:00 on Monday there
    sunday_night_utc = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert is_due(
        frequency="weekly", last_sent_at=MONDAY_8AM - timedelta(days=7), now=sunday_night_utc
    )
    assert not is_due(
        frequency="daily", last_sent_at=None, now=sunday_night_utc - timedelta(hours=2)
    )


def test_daily_weekly_and_off_with_an_explicit_now_and_running_twice_sends_nothing_more(
    production, reviewer, second_reviewer, mailoutbox
):
    off = make_person("otis.off@example.com", Role.REVIEWER)
    for person in (reviewer, second_reviewer, off):
        make_cycle(production, f"For {person.email}", due_in=30, items=1, assignee=person)
    prefer(reviewer, "daily")
    prefer(second_reviewer, "weekly")
    prefer(off, "off")

    assert send_due_digests(now=MONDAY_6AM) == 0
    assert send_due_digests(now=MONDAY_8AM) == 2
    assert sorted(m.to[0] for m in mailoutbox) == [reviewer.email, second_reviewer.email]
    assert last_sent(reviewer) == MONDAY_8AM and last_sent(off) is None

    assert send_due_digests(now=MONDAY_8AM + timedelta(minutes=20)) == 0
    assert send_due_digests(now=TUESDAY_8AM) == 1
    assert mailoutbox[-1].to == [reviewer.email]
    assert send_due_digests(now=TUESDAY_8AM + timedelta(minutes=59)) == 0
    assert send_due_digests(now=MONDAY_8AM + timedelta(days=7)) == 2
    assert len(mailoutbox) == 5


def test_a_person_who_never_chose_gets_the_weekly_digest(production, reviewer, mailoutbox):
    make_cycle(production, "Mine", due_in=30, items=1, assignee=reviewer)
    assert not DigestPreference.objects.exists()
    assert send_due_digests(now=MONDAY_8AM) == 1
    preference = DigestPreference.objects.get(user=reviewer)
    assert preference.frequency == "weekly" and preference.last_sent_at == MONDAY_8AM
    assert send_due_digests(now=TUESDAY_8AM) == 0


def test_a_due_period_with_nothing_to_say_counts_as_handled(production, reviewer, mailoutbox):
    prefer(reviewer, "weekly")
    assert send_due_digests(now=MONDAY_8AM) == 0
    assert last_sent(reviewer) == MONDAY_8AM
    make_cycle(production, "Assigned on Tuesday", due_in=30, items=1, assignee=reviewer)
    assert send_due_digests(now=TUESDAY_8AM) == 0  # weekly means weekly
    assert send_due_digests(now=MONDAY_8AM + timedelta(days=7)) == 1


def another_run_completes_first(*, at, when_sql_starts: str):
    """A connection wrapper: just before the run being watched executes SQL starting with
    `when_sql_starts`, a second run (at `at`) runs from start to end. Returns the wrapper and
    what the second run returned (under "sent")."""
    other_run: dict = {}

    def wrapper(execute, sql, params, many, context):
        if "sent" not in other_run and sql.startswith(when_sql_starts):
            other_run["sent"] = None  # the second run's own SQL passes straight through
            other_run["sent"] = send_due_digests(now=at)
        return execute(sql, params, many, context)

    return wrapper, other_run


@pytest.mark.parametrize(
    "when_sql_starts",
    [
        # A has read the people, each with their last digest, and found the reviewer due.
        'SELECT ("accounts_user_groups"."user_id")',
        # A has made her digest and is about to claim her period.
        'UPDATE "accounts_digestpreference"',
    ],
    ids=["after-reading-the-people", "before-claiming"],
)
def test_a_run_that_finishes_while_another_is_under_way_causes_no_second_digest(
    production, reviewer, mailoutbox, when_sql_starts
):
    """Two runs that overlap (the hourly task and `manage.py send_digests`, or a retried task)
    both emailed the person: the later claim compared against a copy of the preference read
    again after the other run had claimed, and moved last_sent_at back."""
    make_cycle(production, "Quarterly", due_in=30, items=1, assignee=reviewer)
    prefer(reviewer, "weekly", last_sent_at=MONDAY_8AM - timedelta(days=8))
    # Run B, one minute later, runs from start to end while run A is under way.
    wrapper, run_b = another_run_completes_first(
        at=MONDAY_8AM + timedelta(minutes=1), when_sql_starts=when_sql_starts
    )
    with connection.execute_wrapper(wrapper):
        sent_by_a = send_due_digests(now=MONDAY_8AM)

    assert (run_b["sent"], sent_by_a) == (1, 0)
    assert len(mailoutbox) == 1
    assert last_sent(reviewer) == MONDAY_8AM + timedelta(minutes=1)  # never moved back


def test_a_newcomers_first_digest_goes_once_when_two_runs_overlap(production, reviewer, mailoutbox):
    make_cycle(production, "Quarterly", due_in=30, items=1, assignee=reviewer)
    assert not DigestPreference.objects.exists()
    # Run A found her due (no preference yet); run B creates it and claims her period before
    # A creates it.
    wrapper, run_b = another_run_completes_first(
        at=MONDAY_8AM + timedelta(minutes=1),
        when_sql_starts='INSERT INTO "accounts_digestpreference"',
    )
    with connection.execute_wrapper(wrapper):
        sent_by_a = send_due_digests(now=MONDAY_8AM)

    assert (run_b["sent"], sent_by_a) == (1, 0)
    assert len(mailoutbox) == 1
    assert last_sent(reviewer) == MONDAY_8AM + timedelta(minutes=1)


def test_the_task_sends_the_due_digests(production, reviewer, mailoutbox, settings):
    from findings.notifications.tasks import send_digests

    settings.DIGEST_HOUR = 0  # due whatever the hour the test runs at

    make_cycle(production, "Mine", due_in=30, items=1, assignee=reviewer)
    assert send_digests.name == "findings.send_digests"
    assert send_digests.delay().get() == 1
    assert send_digests.delay().get() == 0
    assert len(mailoutbox) == 1


def test_the_beat_schedule_runs_the_task_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-digests"]
    assert entry == {"task": "findings.send_digests", "schedule": 3600.0}


# --- Through a real SMTP server ------------------------------------------------------------


def test_a_digest_goes_through_a_real_smtp_server_as_text_and_html(
    production, reviewer, smtp_server
):
    server = smtp_server()
    make_cycle(production, "Monthly <2026-11>", due_in=-1, items=2, assignee=reviewer)

    assert send_due_digests(now=timezone.now(), force=True) == 1

    ((recipients, message),) = server.messages
    assert recipients == [reviewer.email]
    assert message["To"] == reviewer.email
    assert message["Subject"] == "iamreview: 2 items assigned to you (2 overdue)"
    assert message["From"] == "iamreview <iamreview@example.com>"
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in message.get_payload()}
    assert set(parts) == {"text/plain", "text/html"}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "Monthly <2026-11>: 2 items" in text and "(OVERDUE)" in text
    assert "Monthly &lt;2026-11&gt;" in html and f'href="{SITE}/review/items/' in html
    assert last_sent(reviewer) is not None


def test_a_refused_recipient_is_logged_and_the_others_still_get_theirs(
    production, reviewer, second_reviewer, approver, smtp_server, caplog
):
    server = smtp_server(refused=[second_reviewer.email])
    for person in (reviewer, second_reviewer):
        make_cycle(production, f"For {person.email}", due_in=3, items=1, assignee=person)
    make_cycle(production, "Ready", due_in=3, items=1, decided=True)
    for person in (reviewer, second_reviewer, approver):
        prefer(person, "daily")

    with caplog.at_level(logging.ERROR, logger="findings.notifications.digests"):
        assert send_due_digests(now=MONDAY_8AM) == 2

    assert sorted(recipients[0] for recipients, _ in server.messages) == [
        approver.email,
        reviewer.email,
    ]
    assert f"Digest to {second_reviewer.email} failed" in caplog.text
    assert last_sent(second_reviewer) is None
    assert last_sent(reviewer) == MONDAY_8AM == last_sent(approver)

    # The next run tries the refused person again, and only them.
    server.refused.clear()
    assert send_due_digests(now=MONDAY_8AM + timedelta(hours=1)) == 1
    assert server.messages[-1][0] == [second_reviewer.email]


# --- Through Amazon SES (moto) -----------------------------------------------------------------


SENDER = "iamreview@example.com"


@pytest.fixture
def ses(settings):
    """EMAIL_PROVIDER=ses: django-anymail's SES backend, on moto's SES."""
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    settings.ANYMAIL = {"AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"}}
    with mock_aws():
        yield boto3.client("ses", region_name="eu-west-1")


def ses_recipients() -> list[str]:
    """The recipients of what SES accepted, in order (moto lists each once per header too)."""
    return [
        address
        for message in ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
        for address in sorted(set(message.destinations))
    ]


def test_digests_ses_refuses_are_given_back_uncounted_and_the_next_run_sends_them(
    production, reviewer, second_reviewer, ses, caplog
):
    # The sender is not verified (yet): SES refuses every send (AnymailAPIError).
    for person in (reviewer, second_reviewer):
        make_cycle(production, f"For {person.email}", due_in=3, items=1, assignee=person)
        prefer(person, "daily")

    with caplog.at_level(logging.ERROR, logger="findings.notifications.digests"):
        assert send_due_digests(now=MONDAY_8AM) == 0

    assert "AnymailAPIError" in caplog.text
    for person in (reviewer, second_reviewer):
        assert f"Digest to {person.email} failed; it will be tried again" in caplog.text
    preferences = DigestPreference.objects.all()
    assert [(p.last_sent_at, p.emails_sent) for p in preferences] == [(None, 0), (None, 0)]

    ses.verify_email_identity(EmailAddress=SENDER)
    assert send_due_digests(now=MONDAY_8AM + timedelta(hours=1)) == 2
    assert sorted(ses_recipients()) == [reviewer.email, second_reviewer.email]
    assert [p.emails_sent for p in DigestPreference.objects.all()] == [1, 1]


def test_a_malformed_address_loses_only_that_persons_digest_until_it_is_fixed(
    production, reviewer, second_reviewer, ses, caplog
):
    ses.verify_email_identity(EmailAddress=SENDER)
    for person in (reviewer, second_reviewer):
        make_cycle(production, f"For {person.email}", due_in=3, items=1, assignee=person)
        prefer(person, "daily")
    # As an identity provider sent it; she comes first, so the run must go on past her.
    type(reviewer).objects.filter(pk=reviewer.pk).update(email="rita.reviewer@")

    with caplog.at_level(logging.ERROR, logger="findings.notifications.digests"):
        assert send_due_digests(now=MONDAY_8AM) == 1

    assert "Digest to rita.reviewer@ failed" in caplog.text and "Invalid email" in caplog.text
    assert ses_recipients() == [second_reviewer.email]
    rita = DigestPreference.objects.get(user=reviewer)
    assert (rita.last_sent_at, rita.emails_sent) == (None, 0)
    assert DigestPreference.objects.get(user=second_reviewer).emails_sent == 1

    type(reviewer).objects.filter(pk=reviewer.pk).update(email="rita.reviewer@example.com")
    assert send_due_digests(now=MONDAY_8AM + timedelta(hours=1)) == 1
    assert ses_recipients() == [second_reviewer.email, "rita.reviewer@example.com"]


# --- The command --------------------------------------------------------------------------------


def test_the_command_dry_run_shows_who_would_get_what_and_sends_nothing(
    production, reviewer, auditor, mailoutbox, capsys
):
    make_cycle(production, "Mine", due_in=3, items=2, assignee=reviewer)
    call_command("send_digests", "--dry-run", "--force")
    out = capsys.readouterr().out
    assert (
        f"{reviewer.email}: iamreview: 2 items assigned to you [assigned 2, unassigned 0, "
        "sign_off 0, overdue_cycles 0, failures 0, new_findings 0]" in out
    )
    assert f"{auditor.email}: nothing to say, no email" in out
    assert "Dry run: 1 digest would be sent." in out
    assert mailoutbox == [] and not DigestPreference.objects.exclude(last_sent_at=None).exists()


def test_the_command_sends_to_one_person_and_force_ignores_the_schedule(
    production, reviewer, second_reviewer, mailoutbox, capsys
):
    for person in (reviewer, second_reviewer):
        make_cycle(production, f"For {person.email}", due_in=3, items=1, assignee=person)
        prefer(person, "off")
    call_command("send_digests", "--email", reviewer.email)
    assert "Sent 0 digests." in capsys.readouterr().out
    call_command("send_digests", "--email", reviewer.email.upper(), "--force")
    assert "Sent 1 digest." in capsys.readouterr().out
    assert [m.to for m in mailoutbox] == [[reviewer.email]]
    with pytest.raises(CommandError, match="No active person with a role"):
        call_command("send_digests", "--email", "nobody@example.com")


# --- The preference on the profile page ------------------------------------------------------


def test_the_profile_shows_the_digest_frequency_weekly_by_default(client, reviewer):
    client.force_login(reviewer)
    page = client.get("/accounts/profile/").content.decode()
    assert 'action="/accounts/profile/digest/"' in page
    assert '<option value="weekly" selected>' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_changing_the_digest_frequency_redirects_and_is_audited(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/digest/", {"frequency": "daily"}, follow=True)
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    page = response.content.decode()
    assert "Email digest: daily." in page and '<option value="daily" selected>' in page
    assert DigestPreference.objects.get(user=reviewer).frequency == "daily"
    entry = AuditEntry.objects.get(action="digest.preference_changed")
    assert entry.actor == reviewer and entry.target_label == reviewer.email
    assert entry.before == {"frequency": "weekly"} and entry.after == {"frequency": "daily"}

    client.post("/accounts/profile/digest/", {"frequency": "daily"})
    assert AuditEntry.objects.filter(action="digest.preference_changed").count() == 1
    client.post("/accounts/profile/digest/", {"frequency": "off"})
    assert DigestPreference.objects.get(user=reviewer).frequency == "off"


def test_an_unknown_frequency_is_refused_next_to_the_field(client, reviewer):
    client.force_login(reviewer)
    response = client.post("/accounts/profile/digest/", {"frequency": "hourly"})
    assert response.status_code == 200
    assert 'id="digest-frequency_error"' in response.content.decode()
    assert not DigestPreference.objects.exists()
    assert not AuditEntry.objects.filter(action="digest.preference_changed").exists()


def test_the_digest_preference_needs_a_login_a_post_and_a_csrf_token(reviewer):
    from django.test import Client

    anonymous = Client()
    assert anonymous.post("/accounts/profile/digest/", {"frequency": "off"}).url.startswith(
        "/accounts/login/"
    )
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reviewer)
    assert strict.get("/accounts/profile/digest/").status_code == 405
    assert strict.post("/accounts/profile/digest/", {"frequency": "off"}).status_code == 403
    assert not DigestPreference.objects.exists()


# --- Cost per run ---------------------------------------------------------------------------------


def _queries_to_send_to(count: int) -> tuple[int, int]:
    """Queries to send the digests of `count` people holding every role, and how many went."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(count):
        make_person(f"p{count}-{n}@example.com", *Role)
    with CaptureQueriesContext(connection) as queries:
        sent = send_due_digests(now=timezone.now(), force=True)
    DigestPreference.objects.update(last_sent_at=None)
    return len(queries), sent


PER_PERSON_QUERIES = 2


def test_what_is_the_same_for_everyone_is_read_once_and_each_person_costs_fixed_queries(
    production, mailoutbox
):
    reviewer = make_person("rita.reviewer@example.com", Role.REVIEWER)
    make_cycle(production, "Late", due_in=-4, items=2, assignee=reviewer)
    make_cycle(production, "Ready", due_in=4, items=1, decided=True)
    failed_run(production, "access-analyzer")
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")

    send_due_digests(now=timezone.now(), force=True)  # the reviewer has her reminders now
    DigestPreference.objects.update(last_sent_at=None)
    few, sent_few = _queries_to_send_to(3)
    type(reviewer).objects.filter(email__startswith="p3-").update(is_active=False)
    many, sent_many = _queries_to_send_to(9)

    # The reviewer plus each person with every role. Per person: the claim of their period
    # (which counts the email) and marking their reminders sent. Their assigned items, the
    # cycles they may not sign, their reminders and which were sent are read for everyone at
    # once, like overdue cycles, failures, new findings and audit checkpoints.
    assert (sent_few, sent_many) == (4, 10)
    assert many - few == PER_PERSON_QUERIES * (9 - 3)
    everyone = [m for m in mailoutbox if m.to[0].startswith("p9-")]
    assert len(everyone) == 9
    for message in everyone:
        assert message.subject == (
            "iamreview: 1 cycle to sign off, 1 overdue cycle, 1 failing collection, "
            "1 new high-risk finding"
        ), message.subject


def test_an_hourly_run_with_nobody_due_costs_the_same_whatever_the_number_of_people(production):
    make_cycle(production, "Ready and late", due_in=-2, items=1, decided=True)

    def queries_for(count: int) -> int:
        """Queries of Tuesday's hourly run, once `count` more people had Monday's digest."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for n in range(count):
            prefer(make_person(f"h{count}-{n}@example.com", *Role), "weekly")
        assert send_due_digests(now=MONDAY_8AM) > 0  # with their reminders
        with CaptureQueriesContext(connection) as queries:
            assert send_due_digests(now=TUESDAY_8AM) == 0
        return len(queries)

    # Whether a reminder makes anyone due is read for everyone at once.
    assert queries_for(2) == queries_for(6)


def test_approvers_who_may_sign_different_cycles_each_get_their_own_sections(
    production, approver, mailoutbox
):
    late = make_cycle(production, "Ready and late", due_in=-2, items=1, decided=True)
    bea = make_person("bea.both@example.com", Role.APPROVER)
    Decision.objects.create(
        item=late.items.get(), kind="keep", decided_by=bea, decided_at=timezone.now()
    )

    assert send_due_digests(now=timezone.now(), force=True) == 2

    by_person = {message.to[0]: message for message in mailoutbox}
    paula, bea = by_person[approver.email], by_person["bea.both@example.com"]
    assert "WAITING FOR YOUR SIGN-OFF" in paula.body and "OVERDUE CYCLES" not in paula.body
    assert "Waiting for your sign-off" in html_of(paula) and "Overdue cycles" not in html_of(paula)
    # Bea decided its item: she may not sign it, so it is only overdue for her.
    assert "WAITING FOR YOUR SIGN-OFF" not in bea.body and "OVERDUE CYCLES" in bea.body
    assert "Overdue cycles" in html_of(bea) and "Waiting for your sign-off" not in html_of(bea)


def test_a_critical_finding_back_when_its_exclusion_ended_is_news(production, reviewer, mailoutbox):
    prefer(reviewer, "daily", last_sent_at=MONDAY_8AM - timedelta(days=1))
    finding = make_finding(production, "root-access-key", ROOT, severity="critical")
    dated(finding, MONDAY_8AM - timedelta(days=90))
    FindingEvent.objects.create(
        finding=finding, kind="excluded", at=MONDAY_8AM - timedelta(days=60)
    )
    FindingEvent.objects.create(
        finding=finding, kind="included", at=MONDAY_8AM - timedelta(hours=2)
    )

    assert send_due_digests(now=MONDAY_8AM) == 1
    assert f"Root access key (exclusion ended): root ({production})" in mailoutbox[-1].body
