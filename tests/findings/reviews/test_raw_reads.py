"""The queue's page rows, the item and the cycle are read by hand-written statements
(findings.models.rawrows): they must give what the ORM gives, for every sort and filter, with
the same types (dates as dates, aware datetimes), on PostgreSQL and on SQLite."""

import itertools
from datetime import date

from django.utils import timezone

from accounts.permissions import Role
from findings.models import ReviewCycle, ReviewItem
from findings.reviews.display import load_item, read_cycle
from findings.reviews.forms import SORTS, QueueFilters
from findings.reviews.queue import QueueRows, load_cycle, queue_items
from tests.conftest import make_person, run_on_sqlite

# Built the same way on either database: here (PostgreSQL) and in a child process (SQLite).
BUILD = """
from datetime import date, timedelta
from django.utils import timezone
from findings.collection.registry import add_account
from findings.models import Decision, ReviewCycle, ReviewItem


def build(reviewer):
    accounts = [
        add_account(account_id="222200000000", name="Zeta"),
        add_account(account_id="111100000000", name="Alpha"),
    ]
    cycle = ReviewCycle.objects.create(
        kind="quarterly", title="Q", opened_at=timezone.now(), due_on=date(2027, 1, 1),
        population_hash="x", opened_by=reviewer,
    )
    severities = [("critical", 0), ("high", 1), ("", 9), ("low", 3), ("high", 1)]
    items = ReviewItem.objects.bulk_create(
        ReviewItem(
            cycle=cycle, account=accounts[n % 2], subject_type="user",
            subject_arn=f"arn:aws:iam::{accounts[n % 2].account_id}:user/u{n:02}",
            subject_key=f"k{n}", title=f"u{(n * 7) % 23:02} <b>", frozen_evidence={"n": n},
            evidence_hash="h", severity=severities[n % 5][0], severity_rank=severities[n % 5][1],
            assignee=reviewer if n % 3 == 0 else None,
            freshness="gone" if n % 4 == 1 else "",
            no_response_at=timezone.now() - timedelta(days=1) if n % 6 == 2 else None,
            remediation="pending" if n % 5 == 3 else "",
        )
        for n in range(23)
    )
    ReviewItem.objects.filter(pk=items[7].pk).update(follows_item=items[2])
    for n, item in enumerate(items[:9]):
        decision = Decision.objects.create(
            item=item, kind=("accept_risk", "keep", "delegate")[n % 3], justification="j",
            expires_on=date(2027, 1, n + 1) if n % 3 == 0 else None, decided_by=reviewer,
            delegate_to=reviewer if n % 3 == 2 else None,
            decided_at=timezone.now() - timedelta(days=n), bulk=n == 4,
        )
        ReviewItem.objects.filter(pk=item.pk).update(latest_decision=decision, is_decided=True)
    return cycle
"""
SHARED: dict = {}
exec(BUILD, SHARED)  # noqa: S102 - the fixed text above, shared with the child process
build = SHARED["build"]

CHILD = """
from accounts.models import User
from findings.reviews.display import load_item, read_cycle
from findings.reviews.forms import QueueFilters
from findings.reviews.queue import QueueRows
{build}
reviewer = User.objects.create_user(email="r@example.com", password="x" * 20)
cycle = build(reviewer)
rows = QueueRows(read_cycle(cycle.pk), QueueFilters(status="decided"), reviewer)[0:25]
decision = next(item.latest_decision for item in rows if item.latest_decision.expires_on)
item = load_item(rows[0].pk)
from django.http import Http404
missing = []
for read in (load_item, read_cycle):
    try:
        read(10**20)
    except Http404:
        missing.append(read.__name__)
every = [
    len(QueueRows(read_cycle(cycle.pk), QueueFilters(**f), reviewer)[0:25])
    for f in ({{"sort": "account"}}, {{"sort": "title", "status": "undecided"}},
              {{"severity": "none", "assignee": "me"}}, {{"account": "111100000000"}})
]
print(json.dumps({{
    "missing": missing,
    "every": every,
    "count": len(rows),
    "decided_at_aware": decision.decided_at.tzinfo is not None,
    "expires_on": type(decision.expires_on).__name__,
    "evidence": type(item.frozen_evidence).__name__,
    "opened_by": read_cycle(cycle.pk).opened_by.email,
    "total": read_cycle(cycle.pk).tally.total,
}}))
"""


# What a queue row shows (findings.reviews.rows) and the row page reads.
QUEUE_ROW_ATTRIBUTES = (
    "title",
    "subject_arn",
    "severity",
    "severity_rank",
    "is_decided",
    "freshness",
    "no_response_at",
    "follows_item_id",
    "remediation",
    "assignee_id",
    "account_id",
    "cycle_id",
    "latest_decision_id",
)


def page_ids(rows) -> list[int]:
    return [item.pk for item in rows]


def test_every_sort_and_filter_reads_the_rows_the_orm_reads(db):
    reviewer = make_person("reviewer@example.com", Role.REVIEWER)
    cycle = build(reviewer)
    cycle = read_cycle(cycle.pk)
    choices = {
        "account": ["", "111100000000"],
        "severity": ["", "high", "none"],
        "assignee": ["", "me", "unassigned", str(reviewer.pk)],
        "status": ["", "undecided", "decided"],
        "sort": list(SORTS),
    }
    for values in itertools.product(*choices.values()):
        filters = QueueFilters(**dict(zip(choices, values, strict=True)))
        orm = list(queue_items(cycle, filters, reviewer).select_related("latest_decision"))
        rows = QueueRows(cycle, filters, reviewer)
        assert len(rows) == len(orm), filters
        for start in (0, 4):  # a first page and a later one (OFFSET)
            page = rows[start : start + 4]
            expected = orm[start : start + 4]
            assert page_ids(page) == page_ids(expected), filters
            for got, want in zip(page, expected, strict=True):
                for name in QUEUE_ROW_ATTRIBUTES:
                    assert getattr(got, name) == getattr(want, name), (filters, name)
                if want.latest_decision is None:
                    assert got.latest_decision is None
                else:
                    for name in (
                        "kind",
                        "expires_on",
                        "decided_at",
                        "bulk",
                        "decided_by_id",
                        "delegate_to_id",
                    ):
                        assert getattr(got.latest_decision, name) == getattr(
                            want.latest_decision, name
                        )


def test_the_item_and_the_cycle_come_whole_with_their_relations(db, django_assert_num_queries):
    reviewer = make_person("reviewer@example.com", Role.REVIEWER)
    cycle = build(reviewer)
    want = ReviewItem.objects.select_related("cycle__tally", "account").get(
        cycle=cycle, subject_key="k5"
    )
    with django_assert_num_queries(2):
        item = load_item(want.pk)
        again = read_cycle(cycle.pk)
        # Everything the pages read comes with the one statement.
        assert item.frozen_evidence == {"n": 5}
        assert (item.account.name, item.cycle.title, item.cycle.tally.total) == (
            want.account.name,
            "Q",
            23,
        )
        assert (again.tally.decided, again.opened_by.display_name, again.signed_off_by) == (
            9,
            "reviewer@example.com",
            None,
        )
    for field in ReviewItem._meta.concrete_fields:
        assert getattr(item, field.attname) == getattr(want, field.attname), field.name


def test_a_cycle_without_items_has_a_zero_tally_and_a_missing_one_is_404(db, client):
    empty = ReviewCycle.objects.create(
        kind="monthly", title="M", opened_at=timezone.now(), due_on=date(2027, 1, 1)
    )
    assert (load_cycle(empty.pk).total, load_cycle(empty.pk).remaining) == (0, 0)
    reviewer = make_person("reviewer@example.com", Role.REVIEWER)
    client.force_login(reviewer)
    assert client.get("/review/cycles/999999/").status_code == 404
    assert client.get("/review/items/999999/").status_code == 404


def test_the_same_reads_on_sqlite(tmp_path):
    seen = run_on_sqlite(CHILD.format(build=BUILD), tmp_path)
    assert seen == {
        "missing": ["load_item", "read_cycle"],
        "every": [23, 14, 1, 11],
        "count": 9,
        "decided_at_aware": True,
        "expires_on": "date",
        "evidence": "dict",
        "opened_by": "r@example.com",
        "total": 23,
    }


def test_api_pages_read_the_records_the_orm_reads(db):
    from findings.detection.selectors import finding_record, read_findings, with_evidence_seen_at
    from findings.models import CollectionRun, Finding
    from tests.findings.api.test_api import make_finding
    from tests.findings.detection.test_detect import make_account

    accounts = [make_account("111100000000"), make_account("222200000000")]
    CollectionRun.objects.create(
        account=accounts[0],
        source="credential_report",
        status=CollectionRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
    )
    made = [
        make_finding(accounts[n % 2], f"arn:aws:iam::{accounts[n % 2].account_id}:role/r{n}")
        for n in range(6)
    ]
    Finding.objects.filter(pk=made[1].pk).update(
        status=Finding.Status.RESOLVED, resolved_at=timezone.now()
    )
    ids = [finding.pk for finding in made]
    want = {
        finding.pk: finding_record(finding=finding)
        for finding in with_evidence_seen_at(
            findings=Finding.objects.filter(pk__in=ids).select_related("account")
        )
    }
    assert read_findings(ids=ids) == want
    assert read_findings(ids=ids[:2]).keys() == set(ids[:2])


def test_an_id_too_large_for_the_database_is_a_404(client, db):
    client.force_login(make_person("reviewer@example.com", Role.REVIEWER))
    for path in ("/review/items/99999999999999999999/", "/review/cycles/99999999999999999999/"):
        assert client.get(path).status_code == 404
