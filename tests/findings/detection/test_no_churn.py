"""Writes without churn: an unchanged re-collection and re-detection write no finding rows.

Proved at the database level: every row's `xmin` (the transaction that last wrote it) is the
same after the second import as after the first.
"""

from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.utils import timezone

from findings.collection.imports import import_file
from findings.detection.detect import detect_account
from findings.detection.selectors import FindingFilters, filtered_findings, finding_record
from findings.models import CollectionRun, Finding
from findings.reviews.services import open_cycle
from tests.at_once import at_once
from tests.findings.detection.test_detect import make_account

DATA = Path(__file__).parents[1] / "data"
TABLES = [
    "findings_finding",
    "findings_findingevent",
    "findings_credentialreportentry",
    "findings_reviewitem",
]


def row_versions() -> dict[str, list[tuple]]:
    versions = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT id, xmin::text FROM {table} ORDER BY id")  # noqa: S608
            versions[table] = cursor.fetchall()
    return versions


def test_an_unchanged_reimport_and_redetection_write_no_rows(committed_db):
    production = make_account()
    report = (DATA / "credential-report.csv").read_bytes()
    import_file(account=production, kind="credential-report", data=report)
    open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    import_file(account=production, kind="credential-report", data=report)
    before = row_versions()
    assert before["findings_finding"] and before["findings_reviewitem"]

    second = import_file(account=production, kind="credential-report", data=report)

    assert second.status == CollectionRun.Status.SUCCEEDED
    assert row_versions() == before


def test_redetecting_days_later_writes_no_rows_while_nothing_crosses_a_threshold(committed_db):
    """Evidence says when (dates), never "N days ago": the same evidence a few days later is
    the same finding, not a rewrite of every finding each day."""
    production = make_account()
    report = (DATA / "credential-report.csv").read_bytes()
    import_file(account=production, kind="credential-report", data=report)
    before = row_versions()
    assert before["findings_finding"]

    later = timezone.now() + timedelta(days=3)
    detect_account(account=production, now=later)
    detect_account(account=production, now=later + timedelta(hours=20))

    assert row_versions() == before
    whys = [f.evidence.get("why", "") for f in Finding.objects.all()]
    assert not any("days ago" in why for why in whys)


def test_an_open_finding_was_last_seen_by_the_latest_collection(committed_db):
    production = make_account()
    report = (DATA / "credential-report.csv").read_bytes()
    import_file(account=production, kind="credential-report", data=report)
    latest = import_file(account=production, kind="credential-report", data=report)

    finding = filtered_findings(filters=FindingFilters()).first()
    assert finding.status == Finding.Status.OPEN
    assert finding_record(finding=finding)["last_seen"] == latest.finished_at.isoformat()
    plain = Finding.objects.get(pk=finding.pk)
    assert finding_record(finding=plain)["last_seen"] == latest.finished_at.isoformat()


def test_two_detections_of_one_account_at_once_take_turns(committed_db):
    """Two runs of one account finishing together: both detections read the findings before
    either wrote, and the second's new findings failed on the first's (one_finding_per_problem),
    lost until the next detection. A lock per account makes them take turns."""
    production = make_account()
    report = (DATA / "credential-report.csv").read_bytes()
    import_file(account=production, kind="credential-report", data=report)
    expected = Finding.objects.filter(account=production).count()
    assert expected
    Finding.objects.filter(account=production).delete()  # both detections would open them all

    outcomes = at_once(*[lambda: detect_account(account=production)] * 2, timeout=60)

    assert [type(o).__name__ for o in outcomes] == ["DetectionCounts", "DetectionCounts"]
    assert sorted(o.opened for o in outcomes) == [0, expected]
    assert Finding.objects.filter(account=production).count() == expected
