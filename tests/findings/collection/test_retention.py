"""Raw credential report copies: kept for CREDENTIAL_REPORT_KEEP_DAYS, each account's latest
for ever, then deleted by a daily task (findings/collection/retention.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from findings.collection.imports import ImportRejected, import_file
from findings.collection.registry import add_account
from findings.collection.retention import prune_credential_reports
from findings.collection.tasks import prune_old_credential_reports
from findings.models import CredentialReport, CredentialReportEntry
from tests.findings.collection.test_imports import sample

pytestmark = pytest.mark.django_db

REPORT = sample("credential-report.csv")
LAST_USED = b"2026-10-31T08:44:02+00:00"


def collect_report(account, n: int, *, days_ago: int) -> CredentialReport:
    """The report of collection `n` (its last-used column moved: a new copy), collected
    `days_ago`."""
    used = f"2026-10-31T08:{n:02d}:02+00:00".encode()
    import_file(
        account=account,
        kind="credential-report",
        data=REPORT.replace(LAST_USED, used).replace(b"111122223333", account.account_id.encode()),
        filename=f"report-{n}.csv",
    )
    copy = CredentialReport.objects.filter(account=account).order_by("-pk").first()
    CredentialReport.objects.filter(pk=copy.pk).update(
        collected_at=timezone.now() - timedelta(days=days_ago)
    )
    return copy


def kept(account) -> set[int]:
    return set(CredentialReport.objects.filter(account=account).values_list("pk", flat=True))


def test_copies_older_than_the_window_go_and_each_accounts_latest_stays():
    """Four collections a day for years kept a whole CSV each: only the window's are kept."""
    production = add_account(account_id="111122223333", name="Production")
    # An account no longer collected: its only copy is older than the window, and stays.
    dormant = add_account(account_id="444455556666", name="Dormant")
    forgotten = collect_report(dormant, 0, days_ago=400)
    old = [collect_report(production, n, days_ago=200 - n) for n in range(6)]
    recent = [collect_report(production, n, days_ago=30 - n) for n in range(6, 12)]

    deleted = prune_old_credential_reports.apply().get()

    assert settings.CREDENTIAL_REPORT_KEEP_DAYS == 90
    assert deleted == len(old)
    assert kept(production) == {copy.pk for copy in recent}
    assert kept(dormant) == {forgotten.pk}
    # Running it again deletes nothing.
    assert prune_old_credential_reports.apply().get() == 0


def test_deletes_in_small_batches_until_every_expired_copy_is_gone():
    production = add_account(account_id="111122223333", name="Production")
    copies = [collect_report(production, n, days_ago=300 - n) for n in range(7)]

    deleted = prune_credential_reports(now=timezone.now(), keep_days=90, batch_size=2)

    assert deleted == 6
    assert kept(production) == {copies[-1].pk}


def test_a_failed_collection_never_costs_the_last_good_copy():
    production = add_account(account_id="111122223333", name="Production")
    last_good = collect_report(production, 0, days_ago=365)
    with pytest.raises(ImportRejected):
        import_file(
            account=production,
            kind="credential-report",
            data=b"not,a,credential,report\n",
            filename="broken.csv",
        )

    assert prune_credential_reports(now=timezone.now(), keep_days=90) == 0
    assert kept(production) == {last_good.pk}
    assert CredentialReportEntry.objects.filter(account=production).count() == 6


def test_a_report_identical_to_an_older_copy_makes_that_copy_the_latest_again():
    """A quiet account back where it was (a user created, then deleted, nobody signing in)
    sends the very bytes of an older copy: that copy is behind the current rows, and stays."""
    production = add_account(account_id="111122223333", name="Production")
    first = collect_report(production, 0, days_ago=200)
    collect_report(production, 1, days_ago=150)
    import_file(
        account=production,
        kind="credential-report",
        data=REPORT.replace(LAST_USED, b"2026-10-31T08:00:02+00:00"),
        filename="report-again.csv",
    )

    assert prune_credential_reports(now=timezone.now(), keep_days=90) == 1
    assert kept(production) == {first.pk}


def test_a_repeated_report_that_is_already_the_latest_is_not_written():
    production = add_account(account_id="111122223333", name="Production")
    copy = collect_report(production, 0, days_ago=10)
    import_file(
        account=production,
        kind="credential-report",
        data=REPORT.replace(LAST_USED, b"2026-10-31T08:00:02+00:00"),
        filename="report-again.csv",
    )
    copy_after = CredentialReport.objects.get(pk=copy.pk)
    assert copy_after.collected_at < timezone.now() - timedelta(days=9)
