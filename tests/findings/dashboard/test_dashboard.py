"""The dashboard: what needs attention, with charts, in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.dashboard.selectors import finding_trend
from findings.detection.detect import detect_account
from findings.models import AccessAnalyzerFinding, CollectionRun, Finding, FindingEvent, ReviewCycle
from findings.reviews.services import create_cycle, population_for
from tests.findings.detection.test_detect import aa_row_in, analyzer
from tests.findings.history import analyze, make_accounts, reads
from tests.findings.reviews.test_evidence import (
    credential_entry,
    make_account,
    make_finding,
    succeeded_run,
)

pytestmark = pytest.mark.django_db


def populate(count: int):
    account = make_account()
    for n in range(count):
        severity = ["critical", "high", "medium", "low"][n % 4]
        finding = make_finding(
            account, "access-key-unused", f"arn:aws:iam::111122223333:user/u{n}", severity=severity
        )
        FindingEvent.objects.create(finding=finding, kind="opened", at=timezone.now())
        credential_entry(account, f"u{n}", key=True)
    succeeded_run(account, "credential-report")
    CollectionRun.objects.create(
        account=account,
        source="access-analyzer",
        trigger="schedule",
        status="failed",
        error="Access denied: the role lacks access-analyzer:ListFindings",
        finished_at=timezone.now(),
    )
    specs = population_for(kind="quarterly", accounts=[account])
    create_cycle(
        kind=ReviewCycle.Kind.QUARTERLY,
        title="Quarterly credential review 2026-Q4",
        specs=specs,
        accounts=None,
        opened_by=None,
        due_on=timezone.localdate() - timedelta(days=1),
    )
    return account


def test_dashboard_shows_findings_by_severity_trend_cycles_and_collection_health(client, reviewer):
    populate(8)
    client.force_login(reviewer)
    page = client.get("/").content.decode()
    assert "Open findings" in page and ">8<" in page
    assert 'class="bar bar-critical"' in page and "?severity=critical" in page
    assert "Findings opened (8) and resolved (0) per week" in page
    assert "Quarterly credential review 2026-Q4" in page and "Overdue" in page
    assert "1 failing" in page and "lacks access-analyzer:ListFindings" in page
    assert "Most severe open findings" in page
    assert '<a href="/findings/">All 8 open findings →</a>' in page
    cycle = ReviewCycle.objects.get()
    assert (
        f'<a href="/review/cycles/{cycle.pk}/?assignee=unassigned&amp;status=undecided">'
        "8 undecided items have no assignee</a>"
    ) in page


def test_dashboard_runs_a_fixed_number_of_queries(client, reviewer, django_assert_max_num_queries):
    populate(3)
    client.force_login(reviewer)
    client.get("/")
    with django_assert_max_num_queries(16) as small:
        client.get("/")
    populate_more = make_account("444455556666", "Staging")
    for n in range(40):
        make_finding(populate_more, "role-unused", f"arn:aws:iam::444455556666:role/r{n}")
    # Counts (open and excluded), the trend and the top findings are cached per state of the
    # findings: the first page after a change reads them again (four queries), the next ones
    # read the cache.
    with django_assert_max_num_queries(len(small.captured_queries) + 4):
        client.get("/")
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get("/")


def test_a_person_without_a_role_sees_how_to_get_one(client, outsider):
    client.force_login(outsider)
    page = client.get("/").content.decode()
    assert "hold no role yet" in page
    assert "Open findings" not in page


def test_an_empty_installation_explains_where_to_start(client, administrator):
    client.force_login(administrator)
    page = client.get("/").content.decode()
    assert "No open findings" in page and "Collection</a> page" in page
    assert "No cycle is open" in page


def test_collection_health_is_read_once_for_everyone_then_again_after_a_while(
    client, reviewer, administrator, settings, django_assert_max_num_queries
):
    """Failing and stale sources are the same for every person: read at most every
    HEALTH_TTL_SECONDS, not on every dashboard view."""
    from django.core.cache import cache

    from findings.dashboard.selectors import collection_health

    populate(3)
    client.force_login(reviewer)
    client.get("/")
    client.force_login(administrator)
    with django_assert_max_num_queries(30) as later:
        client.get("/")
    assert not [q for q in later.captured_queries if "findings_collectionrun" in q["sql"]]
    cache.delete("iamreview:dashboard-health")  # as the TTL does
    health = collection_health(now=timezone.now())
    assert health["accounts"] >= 1 and "failing_sources" in health


def test_sources_never_collected_are_not_called_fresh(client, reviewer):
    """An account with only its credential report imported has no users, roles or policies:
    detection has nothing from them, so the dashboard must not say "All fresh"."""
    from findings.models import Source

    account = make_account()
    client.force_login(reviewer)
    for source in Source:
        if source != Source.AUTHORIZATION_DETAILS:
            succeeded_run(account, source)
    page = client.get("/").content.decode()
    assert "1 source never collected" in page and "All fresh" not in page

    from django.core.cache import cache

    other = make_account("444455556666", "Staging")
    cache.delete("iamreview:dashboard-health")
    page = client.get("/").content.decode()
    assert "1 account collected." in page and "5 sources never collected" in page
    assert (
        f'Nothing collected yet from <a href="/collection/accounts/{other.pk}/">Staging</a>' in page
    )
    other.delete()  # the rest is about the one account

    succeeded_run(account, Source.AUTHORIZATION_DETAILS)
    cache.delete("iamreview:dashboard-health")
    page = client.get("/").content.decode()
    assert "never collected" not in page and "All fresh" in page


def test_the_charts_and_top_findings_follow_each_change_of_the_findings(client, reviewer):
    """Both are rendered once per state of the findings: a new finding shows at once."""
    account = populate(4)
    client.force_login(reviewer)
    page = client.get("/").content.decode()
    assert "Findings opened (4) and resolved (0) per week" in page and "fresh-finding" not in page
    finding = make_finding(
        account,
        "access-key-unused",
        "arn:aws:iam::111122223333:user/fresh-finding",
        severity="critical",
    )
    FindingEvent.objects.create(finding=finding, kind="opened", at=timezone.now())
    page = client.get("/").content.decode()
    assert "Findings opened (5) and resolved (0) per week" in page
    assert "All 5 open findings" in page and "fresh-finding" in page


def test_findings_archived_in_access_analyzer_are_not_among_the_most_severe(client, reviewer):
    account = populate(1)
    make_finding(
        account,
        "access-analyzer:ExternalAccess",
        "arn:aws:s3:::intended-website",
        severity="critical",
        aws_status="ARCHIVED",
    )
    make_finding(
        account, "access-analyzer:ExternalAccess", "arn:aws:s3:::leaky", severity="critical"
    )
    client.force_login(reviewer)
    page = client.get("/").content.decode()
    top = page[page.index("Most severe open findings") :]
    assert "leaky" in top and "intended-website" not in top


def test_only_an_approver_who_may_sign_a_cycle_is_asked_to(client, reviewer, approver):
    """An approver who decided items in a cycle may not sign it off (segregation of duties):
    the dashboard must not ask them to, as the digest does not; another approver is asked,
    with a link to the cycle's sign-off."""
    from accounts.permissions import Role
    from findings.reviews.services import DecisionInput, decide_item
    from tests.conftest import make_person

    populate(1)
    cycle = ReviewCycle.objects.get()
    both = make_person("bo.both@example.com", Role.REVIEWER, Role.APPROVER)
    decide_item(
        item=cycle.items.get(),
        actor=both,
        decision=DecisionInput(
            kind="keep", justification="Needed by the nightly batch, ticket OPS-7"
        ),
        expected_latest_id=None,
    )

    client.force_login(both)
    assert "for your sign-off" not in client.get("/").content.decode()
    client.force_login(approver)
    page = client.get("/").content.decode()
    assert (
        f'1 cycle waits for your sign-off: <a href="/review/cycles/{cycle.pk}/#sign-off">'
        "Quarterly credential review 2026-Q4</a>."
    ) in page


def test_items_assigned_to_me_link_to_them_in_their_cycle(client, reviewer):
    populate(2)
    cycle = ReviewCycle.objects.get()
    cycle.items.update(assignee=reviewer)
    client.force_login(reviewer)
    page = client.get("/").content.decode()
    assert (
        f'href="/review/cycles/{cycle.pk}/?assignee=me&amp;status=undecided">'
        "2 items assigned to you</a>"
    ) in page


# --- Excluded findings ------------------------------------------------------------------------


def test_the_dashboard_says_how_many_findings_are_excluded_with_links(client, reviewer):
    """Excluded findings are out of the open counts and the queues: the dashboard says how
    many, criticals first, and links to them and to the exclusions."""
    account = populate(2)
    for n, severity in enumerate(["critical", "high", "high", "low"]):
        make_finding(
            account,
            "role-unused",
            f"arn:aws:iam::111122223333:role/set-aside-{n}",
            severity=severity,
            status="excluded",
        )
    client.force_login(reviewer)

    page = client.get("/").content.decode()

    assert (
        "Open findings" in page and '<span class="badge status-warning">4 excluded</span>' in page
    )
    assert (
        '<a href="/findings/?status=excluded">4 findings excluded</a> now, not counted above: '
    ) in page
    assert (
        '<a href="/findings/?status=excluded&amp;severity=critical"><strong>1 critical</strong></a>'
    ) in page
    assert page.count("1 critical") == 1  # said once
    assert '<a href="/findings/?status=excluded&amp;severity=high">2 high</a>' in page
    assert '<a href="/findings/?status=excluded&amp;severity=low">1 low</a>' in page
    assert 'href="/findings/exclusions/">Exclusions</a>' in page
    listed = client.get("/findings/?status=excluded&severity=critical").content.decode()
    assert "set-aside-0" in listed and "set-aside-1" not in listed


def test_without_exclusions_the_dashboard_says_none_is_excluded(client, reviewer):
    populate(1)
    client.force_login(reviewer)
    page = client.get("/").content.decode()
    assert "No finding is excluded." in page and "excluded</span>" not in page


def test_the_excluded_count_follows_an_exclusion_at_once(client, reviewer, administrator):
    """Creating an exclusion re-detects, which writes "excluded" events: the counts' version
    moves and the dashboard shows the new number on the next view."""
    from findings.detection.detect import detect_account
    from findings.detection.exclusions import create_exclusion
    from findings.models import Source
    from tests.findings.detection.test_detect import iam_role
    from tests.findings.detection.test_detect import succeeded_run as run_at

    account = make_account()
    run_at(account, Source.AUTHORIZATION_DETAILS, at=timezone.now())
    iam_role(account, "legacy-batch", created_days=2000)
    detect_account(account=account)
    client.force_login(reviewer)
    assert "No finding is excluded." in client.get("/").content.decode()

    create_exclusion(
        kind="arn",
        arn_pattern="arn:aws:iam::*:role/legacy-*",
        reason="Decommissioning in Q1, ticket OPS-42",
        owner=administrator,
        expires_on=timezone.localdate() + timedelta(days=30),
        created_by=administrator,
    )

    page = client.get("/").content.decode()
    assert '<a href="/findings/?status=excluded">1 finding excluded</a> now, not counted' in page


def test_the_excluded_counts_add_no_query_per_view(client, reviewer, django_assert_max_num_queries):
    """Read from the cached counts, like the open ones: no count of the findings table on a
    view while the findings are unchanged."""
    account = populate(2)
    make_finding(account, "role-unused", "arn:aws:iam::111122223333:role/x", status="excluded")
    client.force_login(reviewer)
    client.get("/")
    with django_assert_max_num_queries(16) as steady:
        client.get("/")
    counts = [q["sql"] for q in steady.captured_queries if "COUNT(" in q["sql"].upper()]
    assert not [sql for sql in counts if '"findings_finding"' in sql]


# --- The trend ---------------------------------------------------------------------------------


def test_a_finding_closed_because_its_region_is_no_longer_monitored_is_not_counted_fixed():
    """Closed, not fixed: the trend counts it resolved once, when a run shows it fixed."""
    account = make_account()
    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    analyzer(account, "us-east-1")
    analyzer(account, "eu-west-1")
    start = timezone.now() - timedelta(days=2)
    succeeded_run(account, "access-analyzer", at=start)
    row = aa_row_in(account, "eu-west-1", "eu-finding", "eu-bucket")
    detect_account(account=account, now=start)
    account.regions = ["us-east-1"]
    account.save()
    detect_account(account=account, now=start + timedelta(hours=1))
    assert Finding.objects.get().resolution == Finding.Resolution.REGION_NOT_MONITORED
    trend = finding_trend(now=timezone.now(), version="closed")
    assert (sum(w.opened for w in trend), sum(w.resolved for w in trend)) == (1, 0)

    # Read again, AWS resolved it meanwhile: now it is fixed, and counted so.
    account.regions = ["us-east-1", "eu-west-1"]
    account.save()
    AccessAnalyzerFinding.objects.filter(pk=row.pk).update(status="RESOLVED")
    succeeded_run(account, "access-analyzer", at=start + timedelta(hours=2))
    detect_account(account=account, now=start + timedelta(hours=3))
    assert Finding.objects.get().resolution == ""
    trend = finding_trend(now=timezone.now(), version="fixed")
    assert (sum(w.opened for w in trend), sum(w.resolved for w in trend)) == (1, 1)


def make_findings(account, count: int) -> list[Finding]:
    now = timezone.now()
    return Finding.objects.bulk_create(
        Finding(
            account=account,
            check_id="access-key-unused",
            resource_key=f"arn:aws:iam::{account.account_id}:user/u{n}#1",
            resource_arn=f"arn:aws:iam::{account.account_id}:user/u{n}",
            resource_type="user",
            resource_name=f"u{n}",
            title="Access key unused",
            severity="medium",
            severity_reason="",
            evidence_fingerprint="x",
            rule_version="1",
            first_seen_at=now - timedelta(days=900),
            last_seen_at=now,
        )
        for n in range(count)
    )


def add_events(findings, *, days_back_from: int, days_back_to: int) -> None:
    """An opened and a resolved event per finding per day in [days_back_to, days_back_from)."""
    now = timezone.now()
    FindingEvent.objects.bulk_create(
        (
            FindingEvent(finding=finding, kind=kind, at=now - timedelta(days=day, hours=hour))
            for finding in findings
            for day in range(days_back_to, days_back_from)
            for hour, kind in ((2, "opened"), (1, "resolved"))
        ),
        batch_size=5000,
    )


def test_the_dashboard_trend_reads_only_the_weeks_it_shows():
    """The trend shows 12 weeks; it is recomputed whenever the findings change (any new event:
    every collection of every account), so it must not read years of events to draw them."""
    (account,) = make_accounts(1)
    findings = make_findings(account, 20)
    add_events(findings, days_back_from=84, days_back_to=0)  # the 12 weeks shown
    analyze(FindingEvent)
    with reads(FindingEvent) as short:
        finding_trend(now=timezone.now(), version="short")
    add_events(findings, days_back_from=84 + 2 * 365, days_back_to=90)  # two years before
    analyze(FindingEvent)
    with reads(FindingEvent) as long:
        finding_trend(now=timezone.now(), version="long")
    assert long.of(FindingEvent) <= 2 * short.of(FindingEvent), (
        f"read {short.of(FindingEvent)} events with 12 weeks of history, "
        f"{long.of(FindingEvent)} with two more years"
    )
