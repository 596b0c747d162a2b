"""The dashboard: what needs attention, with charts, in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import CollectionRun, FindingEvent, ReviewCycle
from findings.reviews.services import create_cycle, population_for
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
    # Counts, the trend and the top findings are cached per state of the findings: the first
    # page after a change reads them again (three queries), the next ones read the cache.
    with django_assert_max_num_queries(len(small.captured_queries) + 3):
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
        decision=DecisionInput(kind="keep", justification="Needed"),
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
